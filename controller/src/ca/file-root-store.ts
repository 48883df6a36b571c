import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CaError } from './ca-error.ts';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CERT_CHAIN_FILE,
  ROOT_CERT_FILE,
  type CaMaterial,
  type PluggedCaSource,
  type RootStore,
} from './root-store.ts';

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write-to-temp, fsync, rename, fsync dir: a crash leaves the old file or the new one, never a torn one. */
async function writeAtomic(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, join(dir, name));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/**
 * The CA's root in a directory (local mode), Istio file layout, every file mode 0600. Also readable as a plug-in CA
 * directory (`cert-chain.pem`, `root-cert.pem` when present).
 *
 * The key is written before the certificate and the certificate's rename is the commit point: a crash between the
 * two leaves a key without a certificate, which `load()` treats as nothing stored, so the next start regenerates.
 */
export class FileRootStore implements RootStore, PluggedCaSource {
  readonly description: string;

  constructor(private readonly dir: string) {
    this.description = `directory ${dir}`;
  }

  async load(): Promise<CaMaterial | undefined> {
    const certPem = await readOptional(join(this.dir, CA_CERT_FILE));
    if (certPem === undefined) return undefined;
    const keyPem = await readOptional(join(this.dir, CA_KEY_FILE));
    if (keyPem === undefined) {
      throw new CaError(
        'CA_MATERIAL_INVALID',
        `${join(this.dir, CA_CERT_FILE)} exists but ${CA_KEY_FILE} does not; restore the key or remove both to make a new root`,
      );
    }
    const chainPem = await readOptional(join(this.dir, CERT_CHAIN_FILE));
    const rootPem = await readOptional(join(this.dir, ROOT_CERT_FILE));
    return { certPem, keyPem, ...(chainPem === undefined ? {} : { chainPem }), ...(rootPem === undefined ? {} : { rootPem }) };
  }

  async save(material: CaMaterial): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeAtomic(this.dir, CA_KEY_FILE, material.keyPem);
      if (material.chainPem !== undefined) await writeAtomic(this.dir, CERT_CHAIN_FILE, material.chainPem);
      if (material.rootPem !== undefined) await writeAtomic(this.dir, ROOT_CERT_FILE, material.rootPem);
      await writeAtomic(this.dir, CA_CERT_FILE, material.certPem);
    } catch (err) {
      throw new CaError('CA_STORE_FAILED', `cannot store the CA root in ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
  }
}
