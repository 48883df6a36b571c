import { AmbitError } from '@ambit/core/errors';

/**
 * Error codes of the CNI spec ("Error" section, https://github.com/containernetworking/cni/blob/main/SPEC.md#error).
 * 1–99 are reserved by the spec; the plugin uses only those.
 */
export const CniCode = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODING_FAILURE: 6,
  INVALID_NETWORK_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
} as const;
export type CniCode = (typeof CniCode)[keyof typeof CniCode];

/** Stable Ambit codes, one per CNI code the plugin emits. */
const AMBIT_CODES: Readonly<Record<CniCode, string>> = {
  1: 'CNI_INCOMPATIBLE_VERSION',
  2: 'CNI_UNSUPPORTED_FIELD',
  3: 'CNI_UNKNOWN_CONTAINER',
  4: 'CNI_INVALID_ENV',
  5: 'CNI_IO_FAILURE',
  6: 'CNI_DECODING_FAILURE',
  7: 'CNI_INVALID_NETWORK_CONFIG',
  11: 'CNI_TRY_AGAIN_LATER',
};

/** A failure the plugin reports to the runtime as CNI error JSON (`msg` is the message, `details` the detail). */
export class CniPluginError extends AmbitError {
  readonly cniCode: CniCode;
  readonly details: string;

  constructor(cniCode: CniCode, message: string, details = '', cause?: unknown) {
    super(AMBIT_CODES[cniCode], message, { cause });
    this.cniCode = cniCode;
    this.details = details;
  }
}

/** The spec's error object, printed on stdout with a non-zero exit. */
export interface CniErrorJson {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details: string;
}

export function toErrorJson(err: CniPluginError, cniVersion: string): CniErrorJson {
  return { cniVersion, code: err.cniCode, msg: err.message, details: err.details };
}
