// Test fixtures for HBONE: a PKI from the project's own CA code, upstream servers with modes, and a harness wiring
// a pool to a server over real TLS on 127.0.0.1. Not a test file itself (no `.test.ts`), so other tests may use it.
import { createHash } from 'node:crypto';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createCaCertificate, generateP256KeyPair, issueLeafCertificate, loadIssuer, privateKeyPem } from '../src/identity/index.ts';
import { silentLogger } from '../src/log.ts';
import { spiffeId } from '../src/model/spiffe.ts';
import { createHbonePool, type HbonePool, type HbonePoolOptions, type NextHop } from '../src/hbone/pool.ts';
import { createHboneServer, type HboneRelayOptions, type HboneServer, type HboneTunnelRecord } from '../src/hbone/server.ts';
import type { WorkloadCert } from '../src/hbone/tls-config.ts';

export const TRUST_DOMAIN = 'cluster.local';
export const idOf = (sa: string, td = TRUST_DOMAIN): string => spiffeId(td, 'default', sa);

export interface TestPki {
  readonly rootPem: string;
  leaf(identity: string): Promise<WorkloadCert>;
}

export async function createTestPki(name = 'Ambit HBONE Test Root'): Promise<TestPki> {
  const now = Date.now();
  const root = await createCaCertificate({
    subject: [{ O: ['ambit.dev'] }, { CN: [name] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  });
  const issuer = await loadIssuer(root.certPem, root.keyPem);
  return {
    rootPem: root.certPem,
    async leaf(identity) {
      const keys = await generateP256KeyPair();
      const cert = await issueLeafCertificate({
        publicKey: keys.publicKey,
        sans: [{ type: 'url', value: identity }],
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3_600_000),
        issuer,
      });
      return { key: await privateKeyPem(keys.privateKey), certChain: [cert, root.certPem] };
    },
  };
}

/** A listener on 127.0.0.1:0 that tracks its sockets so close() leaves nothing behind. */
export interface TestListener {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  close(): Promise<void>;
}

export async function listen(onSocket: (s: Socket) => void): Promise<TestListener> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    accepted += 1;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Deterministic bytes: chunk `i` of the download stream (its index stamped in, so reordering changes the hash). */
export function patternChunk(i: number, size: number): Buffer {
  const buf = Buffer.alloc(size, i & 0xff);
  buf.writeUInt32BE(i, 0);
  return buf;
}

/**
 * Upstream servers, each a mode: `echo` (bytes back, FIN after the client's FIN); `hash` (on the client's FIN, answer
 * `<bytes> <sha256>` and FIN); `reverse` (on FIN, send everything back, then FIN: the half-close case); `source` (read
 * `<n>\n`, send n pattern bytes, FIN; the SHA-256 of what was sent is pushed to `sourceHashes`).
 */
export interface Upstreams {
  readonly echo: number;
  readonly hash: number;
  readonly reverse: number;
  readonly source: number;
  readonly sourceHashes: string[];
  close(): Promise<void>;
}

export async function startUpstreams(): Promise<Upstreams> {
  const sourceHashes: string[] = [];
  const echo = await listen((s) => s.pipe(s));
  const hash = await listen((s) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (c: Buffer) => {
      n += c.length;
      h.update(c);
    });
    s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
  });
  const reverse = await listen((s) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => s.end(Buffer.concat(parts)));
  });
  const source = await listen((s) => {
    let head = '';
    const onData = (c: Buffer): void => {
      head += c.toString('latin1');
      if (!head.includes('\n')) return;
      s.off('data', onData);
      void sendPattern(s, Number(head.split('\n')[0]), sourceHashes);
    };
    s.on('data', onData);
  });
  return {
    echo: echo.port,
    hash: hash.port,
    reverse: reverse.port,
    source: source.port,
    sourceHashes,
    close: async () => {
      await Promise.all([echo.close(), hash.close(), reverse.close(), source.close()]);
    },
  };
}

async function sendPattern(s: Socket, total: number, hashes: string[]): Promise<void> {
  const h = createHash('sha256');
  const size = 256 * 1024;
  for (let i = 0, sent = 0; sent < total && !s.destroyed; i += 1) {
    const chunk = patternChunk(i, Math.min(size, total - sent)).subarray(0, Math.min(size, total - sent));
    sent += chunk.length;
    h.update(chunk);
    if (!s.write(chunk)) await new Promise((resolve) => s.once('drain', resolve));
  }
  hashes.push(h.digest('hex'));
  s.end();
}

/** Reads a Duplex to its end; resolves with everything, or just the SHA-256 and length when `hashOnly`. */
export function readAll(d: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    d.on('data', (c: Buffer) => parts.push(c));
    d.once('end', () => resolve(Buffer.concat(parts)));
    d.once('error', reject);
  });
}

export function hashAll(d: Duplex): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    d.on('data', (c: Buffer) => {
      bytes += c.length;
      h.update(c);
    });
    d.once('end', () => resolve({ bytes, sha256: h.digest('hex') }));
    d.once('error', reject);
  });
}

export interface Harness {
  readonly pki: TestPki;
  readonly server: HboneServer;
  readonly pool: HbonePool;
  /** The HBONE listener (stands for the in-pod :15008). */
  readonly hbone: TestListener;
  readonly upstreams: Upstreams;
  readonly records: HboneTunnelRecord[];
  readonly nextHop: NextHop;
  readonly clientId: string;
  readonly serverId: string;
  readonly serverCert: WorkloadCert;
  /** Where the HBONE listener hands sockets; tests may point it at another server. */
  route: (s: Socket) => void;
  /** Opens a tunnel to 127.0.0.1:`port` with the harness defaults. */
  open(port: number, extra?: { authority?: string; dstIdentities?: readonly string[]; forwardedFor?: string }): Promise<Duplex>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly server?: Partial<HboneRelayOptions>;
  readonly pool?: Partial<HbonePoolOptions>;
  /** Issue the client's certificate from this PKI instead (another CA). */
  readonly clientPki?: TestPki;
  /** Route pool connections through this port instead of straight to the HBONE listener. */
  readonly via?: (hbonePort: number) => Promise<number>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const pki = await createTestPki();
  const clientId = idOf('client');
  const serverId = idOf('server');
  const serverCert = await pki.leaf(serverId);
  const clientCert = await (opts.clientPki ?? pki).leaf(clientId);
  const roots = [pki.rootPem];
  const upstreams = await startUpstreams();
  const records: HboneTunnelRecord[] = [];
  const server = createHboneServer({
    certFor: (ip) => (ip === '127.0.0.1' ? serverCert : undefined),
    roots: () => roots,
    trustDomain: TRUST_DOMAIN,
    connectUpstream: (target) => connectTcp(target.host, target.port),
    onTunnelClose: (r) => records.push(r),
    log: silentLogger(),
    ...opts.server,
  });
  const hbone = await listen((s) => harness.route(s));
  const port = (await opts.via?.(hbone.port)) ?? hbone.port;
  const pool = createHbonePool({
    connect: (hop) => netConnect({ host: hop.host, port: hop.port, allowHalfOpen: true }),
    certFor: () => Promise.resolve(clientCert),
    roots: () => roots,
    log: silentLogger(),
    ...opts.pool,
  });
  const nextHop = { host: '127.0.0.1', port };
  const harness: Harness = {
    pki,
    server,
    pool,
    hbone,
    upstreams,
    records,
    nextHop,
    clientId,
    serverId,
    serverCert,
    route: (s) => server.handle(s),
    open: (upstreamPort, extra = {}) =>
      pool.open({
        srcIdentity: clientId,
        dstIdentities: extra.dstIdentities ?? [serverId],
        nextHop,
        authority: extra.authority ?? `127.0.0.1:${upstreamPort}`,
        ...(extra.forwardedFor === undefined ? {} : { forwardedFor: extra.forwardedFor }),
      }),
    async close() {
      await pool.close();
      await server.close();
      await hbone.close();
      await upstreams.close();
    },
  };
  return harness;
}

/** A TCP relay whose existing connections can be turned into a black hole (a peer that stops answering). */
export interface FreezableRelay {
  readonly port: number;
  readonly accepted: number;
  /** Existing connections silently drop everything from now on; new ones still pass. */
  freeze(): void;
  close(): Promise<void>;
}

export async function startFreezableRelay(targetPort: number): Promise<FreezableRelay> {
  const frozen = new WeakSet<Socket>();
  const live = new Set<Socket>();
  const l = await listen((a) => {
    const b = netConnect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    b.on('error', () => {});
    live.add(a);
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      from.on('data', (c: Buffer) => {
        if (!frozen.has(a)) to.write(c);
      });
      from.on('end', () => {
        if (!frozen.has(a)) to.end();
      });
      from.on('close', () => {
        live.delete(a);
        to.destroy();
      });
    }
  });
  return {
    port: l.port,
    get accepted() {
      return l.accepted;
    },
    freeze() {
      for (const s of live) frozen.add(s);
    },
    close: () => l.close(),
  };
}

/** A half-open capable TCP connection that resolves once connected. */
export function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port, allowHalfOpen: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}
