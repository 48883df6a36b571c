/**
 * Narrowing of parsed JSON/YAML: a plain object (not null, not an array), the shape every Kubernetes object, xDS
 * resource and CNI config has. The one copy (STYLE: a second copy of a helper core has is not allowed); it lives in the
 * light `@ambit/core/fields` entry so the CNI plugin can use it without loading the rest of core.
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value` when it is a plain object, else an empty one: for lenient reads where a missing part means "nothing set". */
export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
