import { AmbitError } from '@ambit/core';

/** Where a manifest problem is: file, document (counted from 1, as a user counts `---` sections) and field path. */
export interface ManifestProblem {
  readonly file: string;
  readonly document: number;
  /** Dotted path with indices (`spec.containers[0].command`); '' for the document as a whole. */
  readonly field: string;
  readonly message: string;
}

/** `file:document:field: message`, the form every YAML error is printed in. */
export function formatProblem(p: ManifestProblem): string {
  return `${p.file}:${p.document}:${p.field === '' ? '(document)' : p.field}: ${p.message}`;
}

/** One or more manifest problems; nothing of the batch was applied. */
export class ManifestError extends AmbitError {
  readonly problems: readonly ManifestProblem[];

  constructor(problems: readonly ManifestProblem[]) {
    super('INVALID_MANIFEST', problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}
