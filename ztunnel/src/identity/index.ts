// The ztunnel's workload identities: certificates fetched from the CA on behalf of the pods on this node.
export { createCertManager, type CertManager, type CertManagerOptions, type CertStateName, type CertStatus, type FetchCertificate } from './cert-manager.ts';
export { CertError } from './cert-error.ts';
export { createBackoff, DEFAULT_BACKOFF_INITIAL_MS, DEFAULT_BACKOFF_MAX_MS, type Backoff, type BackoffOptions } from './backoff.ts';
export { acceptCertificate, refreshAtMs, type WorkloadCert } from './workload-cert.ts';
