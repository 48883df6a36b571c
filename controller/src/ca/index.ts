// The mesh CA: signing material (generated, stored, or plugged in), CSR policy, caller authentication and the
// Istio-compatible gRPC service. The controller wires these in its app; `rootCertPem()` feeds the root ConfigMaps.
export { CaError, classifyCaError, type CaErrorCode } from './ca-error.ts';
export {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CERT_CHAIN_FILE,
  ROOT_CERT_FILE,
  type CaMaterial,
  type PluggedCaSource,
  type RootStore,
} from './root-store.ts';
export { FileRootStore } from './file-root-store.ts';
export {
  SecretRootStore,
  SecretPluggedCa,
  CA_NAMESPACE,
  ROOT_SECRET_NAME,
  PLUGGED_SECRET_NAME,
  type SecretLocation,
} from './secret-root-store.ts';
export { validateCaMaterial, type SigningAuthority } from './ca-material.ts';
export { checkCsr } from './csr-policy.ts';
export {
  createMeshCa,
  DEFAULT_MAX_TTL_SECONDS,
  DEFAULT_TTL_SECONDS,
  type MeshCa,
  type MeshCaOptions,
  type SignRequest,
} from './mesh-ca.ts';
export {
  NodeCredentialAuthenticator,
  type Authenticator,
  type CallerIdentity,
  type NodeCaller,
  type WorkloadCaller,
} from './authenticator.ts';
export {
  LocalModeAuthenticator,
  WorkloadCredentials,
  WORKLOAD_CREDENTIAL_PREFIX,
  WORKLOAD_CREDENTIAL_PURPOSE,
} from './workload-credential.ts';
export { TokenReviewAuthenticator, type TokenReviewAuthenticatorOptions } from './token-review-authenticator.ts';
export { createCaMetrics, type CaMetrics } from './ca-metrics.ts';
export { addCaService, type CaServiceDeps } from './ca-service.ts';
