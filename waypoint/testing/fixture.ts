// Test fixture for the waypoint's data path: a WaypointInputs built from model objects, certificates from the
// project's own CA code, "destination ztunnels" (core HBONE servers on 127.0.0.x) in front of real HTTP backends, and
// a "source ztunnel" (a real HbonePool) that opens tunnels to the waypoint listener. Pod IPs are 127.0.0.x; the
// waypoint's pool connects to each pod's 15008 through a port map (the test's `connect`), so no fixed port is bound.
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { silentLogger, spiffeId, type GatewayAddress, type PortMapping, type Service, type Workload } from '@ambit/core';
import { createHbonePool, createHboneServer, type HbonePool, type HboneServer, type WorkloadCert } from '@ambit/core/hbone';
import { createTestPki } from '@ambit/core/testing/hbone-harness';
import type { L7Authorization } from '@ambit/core/policy';
import type { RouteSet } from '@ambit/core/routes';
import type { ServiceTraffic } from '@ambit/core/traffic';
import { startWaypointListener, type WaypointListener, type WaypointListenerTuning } from '../src/proxy/listener.ts';
import type { Endpoint, RequestRecord, TcpRecord, WaypointInputs, WaypointState } from '../src/proxy/proxy-inputs.ts';

export const TRUST_DOMAIN = 'cluster.local';
export const NS = 'default';
export const WAYPOINT_ID = spiffeId(TRUST_DOMAIN, NS, 'waypoint');
export const CLIENT_ID = spiffeId(TRUST_DOMAIN, NS, 'client');

/** The `waypoint` of the fixture's Services and workloads: the fixture's own waypoint (Gateway `default/waypoint`). */
export const OWN_WAYPOINT: GatewayAddress = {
  destination: { kind: 'hostname', namespace: NS, hostname: `waypoint.${NS}.svc.cluster.local` },
  hboneMtlsPort: 15008,
};

/** A pod enrolled with the fixture's waypoint (as for an `all` waypoint), so tunnels to its IP are served. */
export function makeWorkload(name: string, ip: string, services: Record<string, readonly PortMapping[]>, serviceAccount = name): Workload {
  return {
    waypoint: OWN_WAYPOINT,
    uid: `Kubernetes//Pod/${NS}/${name}`,
    name,
    namespace: NS,
    addresses: [ip],
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: TRUST_DOMAIN,
    serviceAccount,
    node: 'node-1',
    canonicalName: name,
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: name,
    services,
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
  };
}

export function makeService(name: string, vip: string, ports: readonly PortMapping[]): Service {
  return {
    name,
    namespace: NS,
    hostname: `${name}.${NS}.svc.cluster.local`,
    addresses: [{ network: '', address: vip }],
    ports,
    subjectAltNames: [],
    waypoint: OWN_WAYPOINT,
  };
}

/** A mutable in-memory WaypointState (the xDS client's role). */
export class TestState implements WaypointState {
  services: Service[] = [];
  workloads: Workload[] = [];
  routes = new Map<string, RouteSet>();
  /** L7 policies; targets are honoured as the real store does (this fixture's Gateway is `NS/waypoint`). */
  l7: L7Authorization[] = [];
  /** ServiceTraffic by `namespace/hostname`. */
  traffic = new Map<string, ServiceTraffic>();
  #generation = 0;

  bump(): void {
    this.#generation += 1;
  }
  serviceByVip(ip: string): Service | undefined {
    return this.services.find((s) => s.addresses.some((a) => a.address === ip));
  }
  serviceByHostname(namespace: string, hostname: string): Service | undefined {
    return this.services.find((s) => s.namespace === namespace && s.hostname === hostname);
  }
  workloadByIp(ip: string): Workload | undefined {
    return this.workloads.find((w) => w.addresses.includes(ip));
  }
  endpoints(service: Service, port: number): readonly Endpoint[] {
    const key = `${service.namespace}/${service.hostname}`;
    const out: Endpoint[] = [];
    for (const w of this.workloads) {
      const m = w.services[key]?.find((p) => p.servicePort === port);
      if (m !== undefined && w.status === 'HEALTHY') out.push({ workload: w, port: m.targetPort });
    }
    return out;
  }
  routesFor(service: Service, port: number): RouteSet | undefined {
    return this.routes.get(`${service.hostname}:${port}`) ?? this.routes.get(service.hostname);
  }
  l7PoliciesFor(service: Service | undefined): readonly L7Authorization[] {
    return this.l7.filter((p) =>
      p.targets.some((t) =>
        t.kind === 'Gateway'
          ? t.namespace === NS && t.name === 'waypoint'
          : service !== undefined && t.namespace === service.namespace && t.hostname === service.hostname,
      ),
    );
  }
  trafficFor(service: Service): ServiceTraffic | undefined {
    return this.traffic.get(`${service.namespace}/${service.hostname}`);
  }
  generation(): number {
    return this.#generation;
  }
}

/** Writes `total` bytes of `fill` in 64 KiB pieces, honouring back-pressure, then ends `out` (the backends' /download). */
export function sendPattern(out: Writable, total: number, fill: number): void {
  const chunk = Buffer.alloc(64 * 1024, fill);
  let sent = 0;
  const more = (): void => {
    while (sent < total) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
      sent += piece.length;
      if (!out.write(piece)) {
        out.once('drain', more);
        return;
      }
    }
    out.end();
  };
  more();
}

/** What a backend saw of one request. */
export interface SeenRequest {
  readonly backend: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bodyBytes: number;
  readonly sha256: string;
}

/**
 * An HTTP/1.1 backend. Paths: `/sleep?ms=N` answers after N ms; `/flaky` answers 503 to every other request;
 * `/status?code=N` always answers N;
 * `/slow-flaky?ms=N` answers every other request (the 1st, 3rd, …) only after N ms; `/trickle?ms=N` sends its head
 * and a first chunk at once, then a chunk every 50 ms for N ms; `/download?bytes=N` sends N pattern bytes;
 * `/fail-on?backend=NAME&status=N` answers N from the backend named NAME (and normally from the others); anything
 * else answers JSON describing the request (SeenRequest). An Upgrade request gets 101 and its bytes echoed, unless
 * its path is `/refuse-upgrade`: then 426 with a body, as an ordinary keep-alive response.
 */
export interface Backend {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

export async function startBackend(name: string, ip: string): Promise<Backend> {
  const seen: SeenRequest[] = [];
  let flaky = 0;
  let slowFlaky = 0;
  const sockets = new Set<Socket>();
  const server: Server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const h = createHash('sha256');
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => {
      bodyBytes += c.length;
      h.update(c);
    });
    req.on('end', () => {
      const record: SeenRequest = {
        backend: name,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodyBytes,
        sha256: h.digest('hex'),
      };
      seen.push(record);
      if (url.pathname === '/flaky') {
        flaky += 1;
        if (flaky % 2 === 1) {
          res.writeHead(503, { 'content-type': 'text/plain' }).end('try again');
          return;
        }
      }
      if (url.pathname === '/status') {
        res.writeHead(Number(url.searchParams.get('code') ?? '200'), { 'content-type': 'text/plain' }).end('status');
        return;
      }
      if (url.pathname === '/slow-flaky') {
        slowFlaky += 1;
        const delayMs = slowFlaky % 2 === 1 ? Number(url.searchParams.get('ms') ?? '0') : 0;
        setTimeout(() => res.end(JSON.stringify(record)), delayMs);
        return;
      }
      if (url.pathname === '/trickle') {
        const untilMs = performance.now() + Number(url.searchParams.get('ms') ?? '0');
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        const tick = setInterval(() => {
          if (performance.now() >= untilMs || res.destroyed) {
            clearInterval(tick);
            res.end('last\n');
          } else res.write('more\n');
        }, 50);
        res.once('close', () => clearInterval(tick));
        return;
      }
      if (url.pathname === '/fail-on' && url.searchParams.get('backend') === name) {
        res.writeHead(Number(url.searchParams.get('status') ?? '500'), { 'content-type': 'text/plain', 'x-backend': name }).end('failing');
        return;
      }
      if (url.pathname === '/sleep') {
        setTimeout(() => res.end('slept'), Number(url.searchParams.get('ms') ?? '0'));
        return;
      }
      if (url.pathname === '/download') {
        const total = Number(url.searchParams.get('bytes') ?? '0');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
        sendPattern(res, total, 7);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name }).end(JSON.stringify(record));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    seen.push({ backend: name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0, sha256: '' });
    if (req.url === '/refuse-upgrade') {
      // Refused: the connection stays an HTTP/1.1 keep-alive connection, so hand it back to the HTTP parser.
      socket.write(
        'HTTP/1.1 426 Upgrade Required\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nx-backend: ' + name + '\r\n\r\nnot upgrading',
      );
      if (head.length > 0) socket.unshift(head);
      server.emit('connection', socket);
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, ip, resolve));
  return {
    name,
    ip,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A destination ztunnel for one pod IP: a core HBONE server relaying to that IP's ports. */
interface PodZtunnel {
  readonly port: number;
  readonly server: HboneServer;
  readonly peers: string[];
  close(): Promise<void>;
}

async function startPodZtunnel(ip: string, cert: WorkloadCert, roots: readonly string[]): Promise<PodZtunnel> {
  const peers: string[] = [];
  const server = createHboneServer({
    certFor: (local) => (local === ip ? cert : undefined),
    roots: () => roots,
    trustDomain: TRUST_DOMAIN,
    connectUpstream: (target) =>
      new Promise<Duplex>((resolve, reject) => {
        const s = netConnect({ host: target.host, port: target.port, allowHalfOpen: true });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    onTunnelClose: (r) => {
      if (r.meta !== undefined) peers.push(r.meta.peerIdentity);
    },
    log: silentLogger(),
  });
  const sockets = new Set<Socket>();
  const listener = createNetServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    server.handle(s);
  });
  await new Promise<void>((resolve) => listener.listen(0, ip, resolve));
  return {
    port: (listener.address() as AddressInfo).port,
    server,
    peers,
    async close() {
      await server.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

export interface WaypointFixture {
  readonly state: TestState;
  readonly records: RequestRecord[];
  readonly tcpRecords: TcpRecord[];
  /** What the data path reported through telemetry.retry / telemetry.outlier, in order. */
  readonly retries: Array<{ service: string | undefined; outcome: string }>;
  readonly outliers: Array<{ service: string; endpoint: string; event: string }>;
  readonly listener: WaypointListener;
  readonly inputs: WaypointInputs;
  /** The mesh root and the "source ztunnel's" certificate (CLIENT_ID), for an independent HBONE client. */
  readonly rootPem: string;
  readonly clientCert: WorkloadCert;
  /** Pod IP → its destination ztunnel (peers: identities that opened tunnels to it). */
  readonly pods: Map<string, PodZtunnel>;
  /** Registers a pod IP with a destination ztunnel (its 15008) and a workload certificate. */
  addPod(ip: string, serviceAccount: string): Promise<void>;
  /** Opens a tunnel from the "source ztunnel" to the waypoint, `:authority` = `authority`. */
  open(authority: string): Promise<Duplex>;
  close(): Promise<void>;
}

export async function startWaypointFixture(tuning: WaypointListenerTuning = {}): Promise<WaypointFixture> {
  const pki = await createTestPki('waypoint test root');
  const roots = [pki.rootPem];
  const state = new TestState();
  const records: RequestRecord[] = [];
  const tcpRecords: TcpRecord[] = [];
  const retries: Array<{ service: string | undefined; outcome: string }> = [];
  const outliers: Array<{ service: string; endpoint: string; event: string }> = [];
  const waypointCert = await pki.leaf(WAYPOINT_ID);
  const clientCert = await pki.leaf(CLIENT_ID);
  const pods = new Map<string, PodZtunnel>();
  const waypointPool: HbonePool = createHbonePool({
    // The waypoint dials pod:15008; here each pod's ztunnel listens on its own port of its 127.0.0.x address.
    connect: (hop) => netConnect({ host: hop.host, port: pods.get(hop.host)?.port ?? 1, allowHalfOpen: true }),
    certFor: () => Promise.resolve(waypointCert),
    roots: () => roots,
    log: silentLogger(),
  });
  const inputs: WaypointInputs = {
    config: {
      gateway: { namespace: NS, name: 'waypoint' },
      identity: WAYPOINT_ID,
      trustDomain: TRUST_DOMAIN,
      podName: 'waypoint-0',
      podIp: '127.0.0.1',
    },
    state,
    cert: () => waypointCert,
    roots: () => roots,
    pool: waypointPool,
    telemetry: {
      request: (r) => records.push(r),
      tcpOpen: () => ({ close: (r) => tcpRecords.push(r) }),
      retry: (service, outcome) => retries.push({ service: service?.hostname, outcome }),
      outlier: (service, endpoint, event) => outliers.push({ service: service.hostname, endpoint, event }),
    },
    log: silentLogger(),
  };
  const listener = await startWaypointListener(inputs, { host: '127.0.0.1', port: 0, tuning });
  const clientPool = createHbonePool({
    connect: (hop) => netConnect({ host: hop.host, port: hop.port, allowHalfOpen: true }),
    certFor: () => Promise.resolve(clientCert),
    roots: () => roots,
    log: silentLogger(),
  });
  return {
    state,
    records,
    tcpRecords,
    retries,
    outliers,
    rootPem: pki.rootPem,
    clientCert,
    listener,
    inputs,
    pods,
    async addPod(ip, serviceAccount) {
      pods.set(ip, await startPodZtunnel(ip, await pki.leaf(spiffeId(TRUST_DOMAIN, NS, serviceAccount)), roots));
    },
    open: (authority) =>
      clientPool.open({
        srcIdentity: CLIENT_ID,
        dstIdentities: [WAYPOINT_ID],
        nextHop: { host: '127.0.0.1', port: listener.address().port },
        authority,
        forwardedFor: '10.1.1.1:40000',
      }),
    async close() {
      await clientPool.close();
      await listener.close();
      await waypointPool.close();
      await Promise.all([...pods.values()].map((p) => p.close()));
    },
  };
}

/**
 * Writes exact bytes into a tunnel and collects what comes back until the waypoint ends the stream, or until `until`
 * matches what arrived so far (then the tunnel is closed by the test).
 */
export async function rawExchange(
  fx: WaypointFixture,
  authority: string,
  bytes: Buffer | string,
  until?: RegExp,
  opts: { endAfterWrite?: boolean } = {},
): Promise<string> {
  const s = await fx.open(authority);
  return new Promise<string>((resolve, reject) => {
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (until?.test(got) === true) {
        s.destroy();
        resolve(got);
      }
    });
    s.once('end', () => resolve(got));
    s.once('error', reject);
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    if (buf.length > 0) s.write(buf);
    if (opts.endAfterWrite === true) s.end();
  });
}
