import { AmbitError } from '@ambit/core';
import type { FieldError, KubeObject } from '../kube/types.ts';

/** The `reason` values of a Kubernetes `Status` this server produces (k8s.io/apimachinery metav1.StatusReason). */
export type ApiErrorReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'Expired'
  | 'Gone'
  | 'UnsupportedMediaType'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'Forbidden'
  | 'Unauthorized'
  | 'InternalError';

export interface ApiErrorDetails {
  readonly name?: string;
  readonly group?: string;
  /** As in real Status details: the resource (plural) for NotFound/AlreadyExists/Conflict, the Kind for Invalid. */
  readonly kind?: string;
  readonly causes?: readonly FieldError[];
}

/** Enough of a resource type to phrase an error the way the real API server does (`deployments.apps "x"`). */
export interface ErrorResource {
  readonly group: string;
  readonly plural: string;
  readonly kind: string;
}

function qualified(r: ErrorResource): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}

function groupDetail(r: ErrorResource): { group?: string } {
  return r.group === '' ? {} : { group: r.group };
}

/**
 * An API failure with the HTTP status and Kubernetes reason it is served as. The store throws these so the HTTP layer
 * is a plain translation (`toStatus()`), and in-process callers can match on `reason` or the stable `code`
 * (`API_NOT_FOUND`, `API_CONFLICT`, …).
 */
export class ApiError extends AmbitError {
  readonly status: number;
  readonly reason: ApiErrorReason;
  readonly details: ApiErrorDetails | undefined;

  constructor(status: number, reason: ApiErrorReason, message: string, details?: ApiErrorDetails, options?: { cause?: unknown }) {
    super(`API_${reason.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`, message, options);
    this.status = status;
    this.reason = reason;
    this.details = details;
  }

  /** The `Status` object the real API server would send for this failure. */
  toStatus(): KubeObject {
    const status: KubeObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.status,
    };
    if (this.details !== undefined) {
      const d: Record<string, unknown> = {};
      if (this.details.name !== undefined) d['name'] = this.details.name;
      if (this.details.group !== undefined) d['group'] = this.details.group;
      if (this.details.kind !== undefined) d['kind'] = this.details.kind;
      if (this.details.causes !== undefined) {
        d['causes'] = this.details.causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field }));
      }
      status['details'] = d;
    }
    return status;
  }

  static notFound(r: ErrorResource, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, { name, ...groupDetail(r), kind: r.plural });
  }

  /** A path, resource or subresource this server does not serve at all. */
  static noResource(): ApiError {
    return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }

  static alreadyExists(r: ErrorResource, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, { name, ...groupDetail(r), kind: r.plural });
  }

  static conflict(r: ErrorResource, name: string, why: string): ApiError {
    return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`, {
      name,
      ...groupDetail(r),
      kind: r.plural,
    });
  }

  /**
   * 422, phrased like apimachinery's `NewInvalid` (the kind qualified by its group, as GroupKind prints):
   * `Pod "x" is invalid: [a: …, b: …]`, `LocalRateLimit.ambit.dev "y" is invalid: …`.
   */
  static invalid(r: ErrorResource, name: string, causes: readonly FieldError[]): ApiError {
    const parts = causes.map((c) => `${c.field}: ${c.message}`);
    const joined = parts.length === 1 ? (parts[0] ?? '') : `[${parts.join(', ')}]`;
    const kind = r.group === '' ? r.kind : `${r.kind}.${r.group}`;
    return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${joined}`, {
      name,
      ...groupDetail(r),
      kind: r.kind,
      causes,
    });
  }

  static forbidden(r: ErrorResource, name: string, why: string): ApiError {
    return new ApiError(403, 'Forbidden', `${qualified(r)} "${name}" is forbidden: ${why}`, { name, ...groupDetail(r), kind: r.plural });
  }

  static badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  }

  static methodNotAllowed(): ApiError {
    return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  /** A watch asked for history the store no longer holds; informers react by relisting. */
  static expired(requested: number, oldest: number): ApiError {
    return new ApiError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
  }

  static unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  }

  static internal(message: string, cause?: unknown): ApiError {
    return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, undefined, { cause });
  }
}
