/**
 * The one error base of Ambit (STYLE rule 13). `code` is stable and names the condition, so callers and tests match
 * on it rather than on message text; `cause` keeps the underlying error for logs.
 */
export class AmbitError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `err` is an AmbitError carrying `code`. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof AmbitError && err.code === code;
}

/** The message of any thrown value, for logs and CLI output. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
