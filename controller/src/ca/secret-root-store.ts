import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { CaError } from './ca-error.ts';
import { apiStatusCode, readSecretData } from './kube-secret.ts';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CERT_CHAIN_FILE,
  ROOT_CERT_FILE,
  type CaMaterial,
  type PluggedCaSource,
  type RootStore,
} from './root-store.ts';

export const CA_NAMESPACE = 'ambit-system';
/** The Secret holding the self-generated root (istiod's equivalent is `istio-ca-secret`). */
export const ROOT_SECRET_NAME = 'ambit-ca';
/** Istio's plug-in CA Secret name and layout, so existing `cacerts` tooling works unchanged. */
export const PLUGGED_SECRET_NAME = 'cacerts';

export interface SecretLocation {
  /** Default `ambit-system`. */
  readonly namespace?: string;
  readonly name?: string;
}

function materialFrom(data: Record<string, string>, where: string): CaMaterial {
  const certPem = data[CA_CERT_FILE];
  const keyPem = data[CA_KEY_FILE];
  if (certPem === undefined || keyPem === undefined) {
    const missing = [certPem === undefined ? CA_CERT_FILE : '', keyPem === undefined ? CA_KEY_FILE : ''].filter((s) => s !== '');
    throw new CaError('CA_MATERIAL_INVALID', `${where} lacks ${missing.join(' and ')}`);
  }
  const chainPem = data[CERT_CHAIN_FILE];
  const rootPem = data[ROOT_CERT_FILE];
  return { certPem, keyPem, ...(chainPem === undefined ? {} : { chainPem }), ...(rootPem === undefined ? {} : { rootPem }) };
}

/**
 * The CA root in a Secret (cluster mode; default `ambit-system/ambit-ca`). Replicas race to create it: the API
 * server's create is the arbiter, and a loser's AlreadyExists means it must load the winner's root, which the
 * RootStore contract (load after save) does.
 */
export class SecretRootStore implements RootStore {
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly name: string;

  constructor(kubeConfig: KubeConfig, location: SecretLocation = {}) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.namespace = location.namespace ?? CA_NAMESPACE;
    this.name = location.name ?? ROOT_SECRET_NAME;
  }

  async load(): Promise<CaMaterial | undefined> {
    const data = await readSecretData(this.api, this.namespace, this.name);
    return data === undefined ? undefined : materialFrom(data, `Secret ${this.namespace}/${this.name}`);
  }

  async save(material: CaMaterial): Promise<void> {
    const data: Record<string, string> = { [CA_CERT_FILE]: material.certPem, [CA_KEY_FILE]: material.keyPem };
    if (material.chainPem !== undefined) data[CERT_CHAIN_FILE] = material.chainPem;
    if (material.rootPem !== undefined) data[ROOT_CERT_FILE] = material.rootPem;
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    try {
      await this.api.createNamespacedSecret({
        namespace: this.namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: this.name, namespace: this.namespace, labels: { 'app.kubernetes.io/managed-by': 'ambit' } },
          type: 'Opaque',
          data: encoded,
        },
      });
    } catch (err) {
      if (apiStatusCode(err) === 409) return; // another replica created it first; the caller loads theirs
      throw new CaError('CA_STORE_FAILED', `cannot create Secret ${this.namespace}/${this.name}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

/** Istio's plug-in CA from a Secret (default `ambit-system/cacerts`); absent Secret means "not plugged". */
export class SecretPluggedCa implements PluggedCaSource {
  readonly description: string;
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly name: string;

  constructor(kubeConfig: KubeConfig, location: SecretLocation = {}) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.namespace = location.namespace ?? CA_NAMESPACE;
    this.name = location.name ?? PLUGGED_SECRET_NAME;
    this.description = `Secret ${this.namespace}/${this.name}`;
  }

  async load(): Promise<CaMaterial | undefined> {
    const data = await readSecretData(this.api, this.namespace, this.name);
    return data === undefined ? undefined : materialFrom(data, this.description);
  }
}
