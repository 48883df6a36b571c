import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';

/**
 * A downward-API `fieldRef` value as the kubelet renders it (pkg/fieldpath): plain fields by path,
 * `metadata.labels`/`metadata.annotations` as sorted `key="value"` lines, and one entry by `metadata.labels['key']`.
 * An unknown path renders empty.
 */
export function downwardFieldValue(pod: KubeObject, fieldPath: string): string {
  const subscript = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (subscript !== null) {
    const map = subscript[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[subscript[2] ?? ''] ?? '';
  }
  if (fieldPath === 'metadata.labels' || fieldPath === 'metadata.annotations') {
    const map = (fieldPath === 'metadata.labels' ? pod.metadata.labels : pod.metadata.annotations) ?? {};
    // Go's %q; JSON's quoting agrees with it for printable text.
    return Object.keys(map)
      .sort()
      .map((k) => `${k}=${JSON.stringify(map[k])}`)
      .join('\n');
  }
  let cur: unknown = pod;
  for (const part of fieldPath.split('.')) cur = asRecord(cur)[part];
  return typeof cur === 'string' ? cur : typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : '';
}
