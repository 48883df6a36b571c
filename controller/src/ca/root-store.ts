/**
 * CA key material in Istio's plug-in CA layout (Secret `cacerts`: `ca-cert.pem`, `ca-key.pem`, `cert-chain.pem`,
 * `root-cert.pem`). A self-generated root has only the first two: it is its own chain and root.
 */
export interface CaMaterial {
  /** The signing certificate (root or intermediate), PEM. */
  readonly certPem: string;
  /** Its private key, PEM (PKCS#8, SEC1 or PKCS#1). */
  readonly keyPem: string;
  /** Certificates from `certPem` up towards the root; may start with `certPem` and end with the root (Istio's tools do). */
  readonly chainPem?: string;
  /** The trust anchor; absent means `certPem` is self-signed and is the root. */
  readonly rootPem?: string;
}

/** Where the CA keeps its own root across restarts. */
export interface RootStore {
  /** The stored material, or undefined when none has been stored yet. */
  load(): Promise<CaMaterial | undefined>;
  /**
   * Stores freshly generated material. When another writer got there first (another controller replica), it may
   * keep theirs and return normally: callers always `load()` after `save()` and use what is stored.
   */
  save(material: CaMaterial): Promise<void>;
}

/** A read-only source of user-supplied CA material (Istio's plug-in CA); it wins over the RootStore when present. */
export interface PluggedCaSource {
  /** The material, or undefined when the user supplied none. */
  load(): Promise<CaMaterial | undefined>;
  /** Where it comes from, for error messages (`Secret ambit-system/cacerts`, a directory). */
  readonly description: string;
}

/** File names shared by the file store and the Secrets (Istio's plug-in CA keys). */
export const CA_CERT_FILE = 'ca-cert.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const CERT_CHAIN_FILE = 'cert-chain.pem';
export const ROOT_CERT_FILE = 'root-cert.pem';
