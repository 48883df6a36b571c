import assert from 'node:assert';
import type { ServiceDefinition, UntypedServiceImplementation, handleUnaryCall } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { isRecord } from '../fields/is-record.ts';

// Istio's CA API, field numbers as in istio/api security/v1alpha1/ca.proto and ztunnel proto/citadel.proto (reference
// istio-ambient.md §5). Kept inline so client and server need no .proto file on disk at run time.
const CITADEL_PROTO = `
syntax = "proto3";
package istio.v1.auth;
import "google/protobuf/struct.proto";

message IstioCertificateRequest {
  string csr = 1;
  int64 validity_duration = 3;
  google.protobuf.Struct metadata = 4;
}

message IstioCertificateResponse {
  repeated string cert_chain = 1;
}

service IstioCertificateService {
  rpc CreateCertificate(IstioCertificateRequest) returns (IstioCertificateResponse);
}
`;

/** gRPC path of the one RPC. */
export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
/** The metadata key under which a node proxy names the identity it asks for (ztunnel src/identity/caclient.rs). */
export const IMPERSONATED_IDENTITY_KEY = 'ImpersonatedIdentity';

export interface CertificateRequest {
  /** PEM PKCS#10. */
  readonly csr: string;
  /** Requested lifetime in seconds; 0 means "the CA's default". */
  readonly validitySeconds: number;
  /** The request's `metadata` Struct as plain JSON values; the handler validates what it reads. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface CertificateResponse {
  /** PEM certificates, leaf first, root last. */
  readonly certChain: readonly string[];
}

const root = new protobuf.Root();
const structJson = protobuf.common.get('google/protobuf/struct.proto');
assert(structJson !== null, 'BUG: protobufjs lacks google/protobuf/struct.proto');
root.addJSON(structJson.nested ?? {});
protobuf.parse(CITADEL_PROTO, root, { keepCase: false });
root.resolveAll();
const RequestType = root.lookupType('istio.v1.auth.IstioCertificateRequest');
const ResponseType = root.lookupType('istio.v1.auth.IstioCertificateResponse');

const MAX_STRUCT_DEPTH = 16;

/** google.protobuf.Value (as protobufjs objects) → JSON value. Unknown or empty kinds become null, like protojson. */
function fromValue(v: unknown, depth: number): unknown {
  if (!isRecord(v) || depth > MAX_STRUCT_DEPTH) return null;
  if (typeof v['stringValue'] === 'string') return v['stringValue'];
  if (typeof v['numberValue'] === 'number') return v['numberValue'];
  if (typeof v['boolValue'] === 'boolean') return v['boolValue'];
  if (isRecord(v['structValue'])) return fromStruct(v['structValue'], depth + 1);
  if (isRecord(v['listValue'])) {
    const values = v['listValue']['values'];
    return Array.isArray(values) ? values.map((x: unknown) => fromValue(x, depth + 1)) : [];
  }
  return null;
}

function fromStruct(s: unknown, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = isRecord(s) ? s['fields'] : undefined;
  if (!isRecord(fields)) return out;
  for (const [k, v] of Object.entries(fields)) out[k] = fromValue(v, depth);
  return out;
}

function toStructOfStrings(values: Readonly<Record<string, string>>): { fields: Record<string, { stringValue: string }> } {
  const fields: Record<string, { stringValue: string }> = {};
  for (const [k, v] of Object.entries(values)) fields[k] = { stringValue: v };
  return { fields };
}

/** Encodes a request; `metadata` values are strings, which is all Istio's clients send. */
export function encodeCertificateRequest(req: {
  csr: string;
  validitySeconds: number;
  metadata: Readonly<Record<string, string>>;
}): Buffer {
  const msg = RequestType.fromObject({ csr: req.csr, validityDuration: req.validitySeconds, metadata: toStructOfStrings(req.metadata) });
  return Buffer.from(RequestType.encode(msg).finish());
}

/** Decodes a request; throws on malformed protobuf (grpc-js then fails the call). */
export function decodeCertificateRequest(buf: Buffer): CertificateRequest {
  const obj = RequestType.toObject(RequestType.decode(buf), { longs: Number, defaults: true });
  const validity = obj['validityDuration'];
  return {
    csr: typeof obj['csr'] === 'string' ? obj['csr'] : '',
    validitySeconds: typeof validity === 'number' ? validity : 0,
    metadata: fromStruct(obj['metadata'], 0),
  };
}

export function encodeCertificateResponse(res: CertificateResponse): Buffer {
  return Buffer.from(ResponseType.encode(ResponseType.fromObject({ certChain: [...res.certChain] })).finish());
}

export function decodeCertificateResponse(buf: Buffer): CertificateResponse {
  const obj = ResponseType.toObject(ResponseType.decode(buf), { defaults: true });
  const chain: unknown = obj['certChain'];
  return { certChain: Array.isArray(chain) ? chain.filter((c): c is string => typeof c === 'string') : [] };
}

export interface CertificateServiceImplementation extends UntypedServiceImplementation {
  CreateCertificate: handleUnaryCall<CertificateRequest, CertificateResponse>;
}

/** The grpc-js service definition, for `server.addService` (and clients' serializers). */
export const certificateServiceDefinition: ServiceDefinition<CertificateServiceImplementation> = {
  CreateCertificate: {
    path: CREATE_CERTIFICATE_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (req: CertificateRequest) =>
      encodeCertificateRequest({
        csr: req.csr,
        validitySeconds: req.validitySeconds,
        metadata: Object.fromEntries(Object.entries(req.metadata).filter((e): e is [string, string] => typeof e[1] === 'string')),
      }),
    requestDeserialize: decodeCertificateRequest,
    responseSerialize: encodeCertificateResponse,
    responseDeserialize: decodeCertificateResponse,
    originalName: 'createCertificate',
  },
};
