import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type * as grpc from '@grpc/grpc-js';
import type { DeltaDiscoveryRequestWire, DeltaDiscoveryResponseWire, StructWire } from './discovery-wire.ts';

/**
 * The .proto files are loaded at run time (no codegen step), from this directory: paths resolve against this module's
 * own URL so they work from any working directory. `google/protobuf/*` imports are served from protobufjs's bundled
 * well-known types (`protobuf.common`), so only Ambit's own files ship here.
 */
const PROTO_DIR = fileURLToPath(new URL('.', import.meta.url));
const PROTO_FILES = ['workload.proto', 'authorization.proto', 'discovery.proto'] as const;

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(
    PROTO_FILES.map((f) => PROTO_DIR + f),
    { keepCase: false },
  );
  // Fail at import time, not on the first message, if a file references a type it does not define.
  root.resolveAll();
  return root;
}

const root = loadRoot();

/** protobufjs types by full name; looked up once so a typo fails at start-up. */
export const protoTypes = {
  Address: root.lookupType('istio.workload.Address'),
  Authorization: root.lookupType('istio.security.Authorization'),
  DeltaDiscoveryRequest: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
  DeltaDiscoveryResponse: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
  Any: root.lookupType('google.protobuf.Any'),
  Struct: root.lookupType('google.protobuf.Struct'),
} as const;

/** The full method path a gRPC client or server routes on. */
export const DELTA_AGGREGATED_RESOURCES_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/**
 * Encodes a plain wire object. protobufjs `encode` accepts plain objects of the message's shape, which avoids a
 * `fromObject` copy on the push path (10 000 resources per snapshot); enums must already be numbers.
 */
function encodePlain(type: protobuf.Type, message: object): Buffer {
  const bytes = type.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decoded protobufjs messages expose every field (defaults live on the prototype: '' for strings, [] for repeated,
 * {} for maps, null for absent messages), so the instance already has the wire interface's shape. The cast is sound
 * because the decoder only produces values of the schema's types.
 */
function decodeAs<T>(type: protobuf.Type, bytes: Uint8Array): T {
  return type.decode(bytes) as unknown as T;
}

export function encodeDeltaRequest(req: DeltaDiscoveryRequestWire): Buffer {
  return encodePlain(protoTypes.DeltaDiscoveryRequest, req);
}

export function decodeDeltaRequest(bytes: Uint8Array): DeltaDiscoveryRequestWire {
  return decodeAs<DeltaDiscoveryRequestWire>(protoTypes.DeltaDiscoveryRequest, bytes);
}

export function encodeDeltaResponse(res: DeltaDiscoveryResponseWire): Buffer {
  return encodePlain(protoTypes.DeltaDiscoveryResponse, res);
}

export function decodeDeltaResponse(bytes: Uint8Array): DeltaDiscoveryResponseWire {
  return decodeAs<DeltaDiscoveryResponseWire>(protoTypes.DeltaDiscoveryResponse, bytes);
}

/**
 * The grpc-js definition of `envoy.service.discovery.v3.AggregatedDiscoveryService`, built by hand from the
 * protobufjs types (no @grpc/proto-loader). Only the delta RPC exists: it is all ztunnel speaks.
 */
export const aggregatedDiscoveryService = {
  DeltaAggregatedResources: {
    path: DELTA_AGGREGATED_RESOURCES_PATH,
    originalName: 'deltaAggregatedResources',
    requestStream: true,
    responseStream: true,
    requestSerialize: encodeDeltaRequest,
    requestDeserialize: decodeDeltaRequest,
    responseSerialize: encodeDeltaResponse,
    responseDeserialize: decodeDeltaResponse,
  },
} satisfies grpc.ServiceDefinition;

/** Node metadata as a google.protobuf.Struct of string values (what ztunnel sends: NAME, NAMESPACE, …). */
export function toStruct(values: Readonly<Record<string, string>>): StructWire {
  const fields: Record<string, { stringValue: string }> = {};
  for (const [k, v] of Object.entries(values)) fields[k] = { stringValue: v };
  return { fields };
}

/** The string-valued entries of a Struct; other kinds (numbers, lists) are rendered as JSON text. */
export function fromStruct(struct: StructWire | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (struct === null || struct === undefined) return out;
  for (const [k, v] of Object.entries(struct.fields)) {
    out[k] = v.kind === 'stringValue' || v.kind === undefined ? (v.stringValue ?? '') : JSON.stringify(valueToJson(v));
  }
  return out;
}

function valueToJson(v: StructWire['fields'][string]): unknown {
  if (v.kind === 'stringValue') return v.stringValue;
  if (v.kind === 'numberValue') return v.numberValue;
  if (v.kind === 'boolValue') return v.boolValue;
  if (v.kind === 'structValue' && v.structValue) return fromStruct(v.structValue);
  if (v.kind === 'listValue' && v.listValue) return v.listValue.values.map(valueToJson);
  return null;
}
