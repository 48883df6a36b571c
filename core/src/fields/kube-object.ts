import { KubeObjectError } from './field-error.ts';
import { FieldReader } from './field-reader.ts';
import { asRecord } from './is-record.ts';

/**
 * `Kind ns/name` (or `Kind name` for cluster-scoped kinds) from whatever of the object is readable, for error messages.
 * `kind` is used when the object does not say (items of a list often carry no `kind`).
 */
export function describeObject(value: unknown, kind?: string): string {
  const r = asRecord(value);
  const k = typeof r['kind'] === 'string' && r['kind'] !== '' ? r['kind'] : (kind ?? '<unknown kind>');
  const meta = asRecord(r['metadata']);
  const name = typeof meta['name'] === 'string' && meta['name'] !== '' ? meta['name'] : '<unnamed>';
  const ns = typeof meta['namespace'] === 'string' && meta['namespace'] !== '' ? `${meta['namespace']}/` : '';
  return `${k} ${ns}${name}`;
}

/** A reader of one Kubernetes object (named `object`, e.g. by describeObject) that throws KubeObjectError. */
export function kubeObjectReader(object: string): FieldReader {
  return FieldReader.throwing(object, (o, field, problem) => new KubeObjectError(o, field, problem));
}
