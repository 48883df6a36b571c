/**
 * TypeScript shapes of the delta-xDS messages in discovery.proto, as protobufjs decodes them (camelCase fields;
 * absent messages are null, repeated fields [], maps {}) and as `encode` accepts them (plain objects; optional fields
 * may be left out). Kept apart from load.ts so code that only builds or reads messages does not load the .proto files.
 */

export interface NodeWire {
  readonly id: string;
  readonly cluster?: string;
  readonly metadata?: StructWire | null;
}

export interface StructValueWire {
  /** The oneof's set member; present on decoded messages only. */
  readonly kind?: 'nullValue' | 'numberValue' | 'stringValue' | 'boolValue' | 'structValue' | 'listValue';
  readonly stringValue?: string;
  readonly numberValue?: number;
  readonly boolValue?: boolean;
  readonly structValue?: StructWire | null;
  readonly listValue?: { readonly values: readonly StructValueWire[] } | null;
}

export interface StructWire {
  readonly fields: Readonly<Record<string, StructValueWire>>;
}

/** google.rpc.Status; code 3 = INVALID_ARGUMENT. */
export interface RpcStatusWire {
  readonly code: number;
  readonly message: string;
}

export interface DeltaDiscoveryRequestWire {
  readonly node?: NodeWire | null;
  readonly typeUrl: string;
  readonly resourceNamesSubscribe?: readonly string[];
  readonly resourceNamesUnsubscribe?: readonly string[];
  readonly initialResourceVersions?: Readonly<Record<string, string>>;
  readonly responseNonce?: string;
  /** Present only on a NACK. */
  readonly errorDetail?: RpcStatusWire | null;
}

/** google.protobuf.Any. protobufjs bundles it as JSON with the proto field name, so this one field is snake_case. */
export interface AnyWire {
  readonly type_url: string;
  readonly value: Uint8Array;
}

export interface ResourceWire {
  readonly name: string;
  readonly version: string;
  readonly resource?: AnyWire | null;
  readonly aliases?: readonly string[];
}

export interface DeltaDiscoveryResponseWire {
  readonly systemVersionInfo?: string;
  readonly typeUrl: string;
  readonly resources: readonly ResourceWire[];
  readonly removedResources: readonly string[];
  readonly nonce: string;
}

/** The subscription wildcard of delta xDS. */
export const WILDCARD = '*';

/** google.rpc.Code INVALID_ARGUMENT, what a NACK carries. */
export const RPC_INVALID_ARGUMENT = 3;
