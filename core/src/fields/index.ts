// Reading untrusted JSON (Kubernetes objects, xDS resources, manifests, CNI config). Imported as `@ambit/core/fields`
// by the CNI plugin, whose bundle must stay small: nothing here may load more than node built-ins and ../errors.ts.
export { isRecord, asRecord } from './is-record.ts';
export { FieldReader, describeValue, type FieldErrorFactory, type FieldProblem } from './field-reader.ts';
export { FieldError, KubeObjectError } from './field-error.ts';
export { describeObject, kubeObjectReader } from './kube-object.ts';
