import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { fieldValue, parseFieldSelector, parseLabelSelector } from './selectors.ts';

function pod(labels: Record<string, string>, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns1', labels }, ...extra };
}

void describe('label selectors', () => {
  const web = pod({ app: 'web', tier: 'front', n: '5' });
  const db = pod({ app: 'db' });
  const none = pod({});
  const cases: Array<[string, boolean, boolean, boolean]> = [
    // selector, matches web, matches db, matches none
    ['', true, true, true],
    ['app=web', true, false, false],
    ['app==web', true, false, false],
    ['app = web', true, false, false],
    ['app!=web', false, true, true],
    ['app in (web,db)', true, true, false],
    ['app in (web, x)', true, false, false],
    ['app notin (web)', false, true, true],
    ['tier', true, false, false],
    ['!tier', false, true, true],
    ['app=web,tier=front', true, false, false],
    ['app=web,tier=back', false, false, false],
    ['app,!tier', false, true, false],
    ['n>4', true, false, false],
    ['n<4', false, false, false],
    ['example.com/role', false, false, false],
    ['app=', false, false, false],
  ];
  for (const [sel, w, d, n] of cases) {
    void it(`"${sel}"`, () => {
      const s = parseLabelSelector(sel);
      assert.deepEqual([s.matches(web), s.matches(db), s.matches(none)], [w, d, n]);
    });
  }

  for (const badSel of ['app in (web', 'app in web', '=web', 'app=web,', 'app===x', 'Bad Key=x', 'app=web x', 'app in ()', 'a=b/c']) {
    void it(`rejects "${badSel}" with 400`, () => {
      assert.throws(
        () => parseLabelSelector(badSel),
        (err: unknown) => err instanceof ApiError && err.status === 400 && err.reason === 'BadRequest',
      );
    });
  }
});

void describe('field selectors', () => {
  const running = pod({}, { spec: { nodeName: 'node-1' }, status: { phase: 'Running', ready: true } });
  const pending = pod({}, { status: { phase: 'Pending' } });
  const cases: Array<[string, boolean, boolean]> = [
    ['', true, true],
    ['metadata.name=p', true, true],
    ['metadata.name==q', false, false],
    ['metadata.namespace=ns1', true, true],
    ['spec.nodeName=node-1', true, false],
    ['spec.nodeName=', false, true],
    ['spec.nodeName!=', true, false],
    ['status.phase!=Running', false, true],
    ['status.phase=Running,spec.nodeName=node-1', true, false],
    ['status.ready=true', true, false],
  ];
  for (const [sel, r, p] of cases) {
    void it(`"${sel}"`, () => {
      const s = parseFieldSelector(sel);
      assert.deepEqual([s.matches(running), s.matches(pending)], [r, p]);
    });
  }

  void it('unescapes values', () => {
    const o = pod({}, { spec: { x: 'a,b=c' } });
    assert.equal(parseFieldSelector('spec.x=a\\,b\\=c').matches(o), true);
  });

  void it('reads missing fields as empty', () => {
    assert.equal(fieldValue(pod({}), 'spec.nothing.here'), '');
  });

  for (const badSel of ['metadata.name', '=x', 'a=b\\q']) {
    void it(`rejects "${badSel}" with 400`, () => {
      assert.throws(
        () => parseFieldSelector(badSel),
        (err: unknown) => err instanceof ApiError && err.status === 400,
      );
    });
  }
});
