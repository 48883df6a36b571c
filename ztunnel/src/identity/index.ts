// The ztunnel's workload identities: certificates fetched from the CA on behalf of the pods on this node.
export {
  createCertManager,
  type CertManager,
  type CertManagerOptions,
  type CertStateName,
  type CertStatus,
  type FetchCertificate,
} from './cert-manager.ts';
export { CertError } from './cert-error.ts';
export { acceptCertificate, refreshAtMs, type WorkloadCert } from './workload-cert.ts';
