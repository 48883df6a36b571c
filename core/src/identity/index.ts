// Identity: SPIFFE IDs, keys and CSRs, X.509 issuing primitives, and the client of Istio's CA API.
// Imported as `@ambit/core/identity` (kept out of the main index: @peculiar/x509 is heavy to load).
export { IdentityError } from './identity-error.ts';
export { parseSpiffeUri, spiffeUri, type SpiffeIdentity } from './spiffe-uri.ts';
export { x509, subtle, type CryptoKey, type CryptoKeyPair, type SignatureAlgorithm } from './x509.ts';
export { generateP256KeyPair, importSigningKey, privateKeyPem, type SigningKey } from './signing-key.ts';
export {
  createCaCertificate,
  issueLeafCertificate,
  loadIssuer,
  type CaCertificateOptions,
  type Issuer,
  type LeafOptions,
  type LeafSan,
} from './issue-cert.ts';
export { createCsr } from './csr.ts';
export { parseCertInfo, type CertInfo } from './cert-info.ts';
export { joinPem, splitPemCertificates } from './pem.ts';
export {
  CREATE_CERTIFICATE_PATH,
  IMPERSONATED_IDENTITY_KEY,
  certificateServiceDefinition,
  decodeCertificateRequest,
  decodeCertificateResponse,
  encodeCertificateRequest,
  encodeCertificateResponse,
  type CertificateRequest,
  type CertificateResponse,
  type CertificateServiceImplementation,
} from './citadel-proto.ts';
export { createCaClient, type CaClient, type CaClientOptions, type FetchedCertificate } from './ca-client.ts';
// The certificate manager both proxies use: ztunnel for the identities of its node's pods, a waypoint for its own.
export {
  createCertManager,
  type CertManager,
  type CertManagerOptions,
  type CertStateName,
  type CertStatus,
  type FetchCertificate,
} from './cert-manager.ts';
export { CertError } from './cert-error.ts';
export { acceptCertificate, refreshAtMs, type WorkloadCert } from './managed-cert.ts';
