import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject, PrinterColumn } from '../kube/types.ts';
import { ResourceTypeRegistry } from '../store/resource-types.ts';
import { evaluateJsonPath, parseJsonPath, printerCell } from './printer-columns.ts';
import { toTable } from './tables.ts';

const OBJ: KubeObject = {
  apiVersion: 'ambit.dev/v1alpha1',
  kind: 'LocalRateLimit',
  metadata: { name: 'r', creationTimestamp: '2025-01-01T00:00:00Z', labels: { 'a.b/c': 'd' } },
  spec: { targetRef: { name: 'reviews' }, total: { requestsPerSecond: 10 }, list: [{ n: 1 }, { n: 2 }] },
  status: {
    conditions: [
      { type: 'Ready', status: 'False' },
      { type: 'Accepted', status: 'True' },
    ],
  },
};

void describe('printer columns (CRD additionalPrinterColumns)', () => {
  const cases: Array<[string, unknown[]]> = [
    ['.spec.targetRef.name', ['reviews']],
    ['{.spec.total.requestsPerSecond}', [10]],
    ['.spec.list[1].n', [2]],
    ['.spec.list[*].n', [1, 2]],
    ['.status.conditions[?(@.type=="Accepted")].status', ['True']],
    [".metadata.labels['a.b/c']", ['d']],
    ['.spec.missing.deeper', []],
    ['.spec.list[7]', []],
  ];
  for (const [path, want] of cases) {
    void it(`evaluates ${path}`, () => {
      const steps = parseJsonPath(path);
      assert.ok(steps !== undefined);
      assert.deepEqual(evaluateJsonPath(steps, OBJ), want);
    });
  }

  void it('refuses paths beyond the subset rather than guessing', () => {
    assert.equal(parseJsonPath('.spec..name'), undefined);
    assert.equal(parseJsonPath('.spec.list[-1]'), undefined);
  });

  void it('fills cells as kube-apiserver does: null when absent, dates as ages', () => {
    const col = (type: string, jsonPath: string): PrinterColumn => ({ name: 'c', type, jsonPath });
    const age = (t: string): string => `age of ${t}`;
    assert.equal(printerCell(col('integer', '.spec.identity.requestsPerSecond'), OBJ, age), null);
    assert.equal(printerCell(col('integer', '.spec.total.requestsPerSecond'), OBJ, age), 10);
    assert.equal(printerCell(col('date', '.metadata.creationTimestamp'), OBJ, age), 'age of 2025-01-01T00:00:00Z');
    assert.equal(printerCell(col('string', '.spec.targetRef'), OBJ, age), '{"name":"reviews"}');
  });

  void it('a CRD with columns gets NAME then its columns in Tables', () => {
    const types = new ResourceTypeRegistry([]);
    const [t] = types.registerCrd({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'localratelimits.ambit.dev' },
      spec: {
        group: 'ambit.dev',
        scope: 'Namespaced',
        names: { plural: 'localratelimits', kind: 'LocalRateLimit' },
        versions: [
          {
            name: 'v1alpha1',
            served: true,
            additionalPrinterColumns: [
              { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' },
              { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            ],
          },
        ],
      },
    });
    assert.ok(t !== undefined);
    const table = toTable(t, [OBJ], {
      apiVersion: 'meta.k8s.io/v1',
      includeObject: 'None',
      resourceVersion: '1',
      now: new Date('2025-01-01T01:00:00Z'),
    });
    assert.deepEqual(
      (table['columnDefinitions'] as Array<{ name: string; type: string }>).map((c) => `${c.name}:${c.type}`),
      ['Name:string', 'Target:string', 'Age:date'],
    );
    assert.deepEqual((table['rows'] as Array<{ cells: unknown[] }>)[0]?.cells, ['r', 'reviews', '60m']);
  });
});
