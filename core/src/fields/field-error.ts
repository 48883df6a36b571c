import { AmbitError } from '../errors.ts';

/**
 * A field of an object that does not have the shape the reader requires. `object` names the object (`Pod demo/web`,
 * `Workload <uid>`; may be empty when the caller names it elsewhere), `field` is the JSON path of the offending field
 * (`spec.template.spec.containers[0].command`), `problem` what is wrong with it. The code is the caller's: one error
 * type, whichever edge (xDS resource, Kubernetes object, manifest) the object came through.
 */
export class FieldError extends AmbitError {
  readonly object: string;
  readonly field: string;
  readonly problem: string;

  constructor(code: string, object: string, field: string, problem: string) {
    super(code, object === '' ? `${field}: ${problem}` : `${object}: ${field}: ${problem}`);
    this.object = object;
    this.field = field;
    this.problem = problem;
  }
}

/**
 * A Kubernetes object that cannot be read (code `INVALID_OBJECT`): the controller reports it as a status or log entry
 * instead of crashing, the node agent skips it.
 */
export class KubeObjectError extends FieldError {
  constructor(object: string, field: string, problem: string) {
    super('INVALID_OBJECT', object, field, problem);
  }
}
