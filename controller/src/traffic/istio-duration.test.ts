import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIstioDurationMs } from './istio-duration.ts';

test('Go durations as Istio accepts them, in milliseconds', () => {
  const cases: Array<[string, number | undefined]> = [
    ['10s', 10_000],
    ['1.5s', 1500],
    ['1m30s', 90_000],
    ['100ms', 100],
    ['1h', 3_600_000],
    ['0s', 0],
    ['.5s', 500],
    ['1500us', 2],
    ['10', undefined],
    ['-1s', undefined],
    ['1d', undefined],
    ['', undefined],
    ['s', undefined],
    ['1 s', undefined],
  ];
  for (const [text, ms] of cases) assert.equal(parseIstioDurationMs(text), ms, text);
});
