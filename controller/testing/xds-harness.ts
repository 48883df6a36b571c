/**
 * Fixtures for the xDS server tests: real servers and real clients over unix sockets in a tmp dir, workloads built
 * as the model describes them and encoded with the real codec, and a unix-socket relay that can cut a proxy's
 * connection without the proxy or the server knowing in advance.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import { ADDRESS_TYPE_URL, silentLogger, type Workload } from '@ambit/core';
import { decodeAddress, encodeAddress, type AddressResource } from '@ambit/core/codec';
import { createXdsClient, xdsType, type XdsChange, type XdsClient, type XdsClientOptions } from '@ambit/core/xds';
import { makeSocketDir, openSockets, pendingTimers, type SocketDir } from '@ambit/core/testing';
import { createXdsServer, type XdsServer, type XdsServerOptions } from '../src/xds/xds-server.ts';

export { ADDRESS_TYPE_URL };

export function workload(i: number, patch: Partial<Workload> = {}): Workload {
  return {
    uid: `Kubernetes//Pod/demo/pod-${i}`,
    name: `pod-${i}`,
    namespace: 'demo',
    addresses: [`10.244.${(i >> 8) & 0xff}.${i & 0xff}`],
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: 'cluster.local',
    serviceAccount: 'default',
    node: 'node1',
    canonicalName: 'app',
    canonicalRevision: 'v1',
    workloadType: 'POD',
    workloadName: `pod-${i}`,
    services: { 'demo/app.demo.svc.cluster.local': [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }] },
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
    ...patch,
  };
}

/** A publish entry for a workload, keyed by uid as Istio does. */
export function workloadResource(w: Workload): { name: string; body: Uint8Array } {
  return { name: w.uid, body: encodeAddress({ workload: w }) };
}

export interface TestClient {
  readonly client: XdsClient;
  readonly changes: Array<XdsChange<AddressResource>>;
  /** uid -> workload, from the client's state. */
  workloads(): Map<string, Workload>;
}

export interface Harness {
  readonly dir: SocketDir;
  server(options?: Partial<XdsServerOptions>, socketName?: string): Promise<XdsServer>;
  client(target: string, options?: Partial<XdsClientOptions> & { names?: string[] }): TestClient;
  /**
   * A waypoint subscribed to one resource type, decoding with `decode` (core's codec for the type); a decode that
   * throws is recorded in `nacks` and NACKed, as the waypoint's config link does.
   */
  subscribe<T>(target: string, typeUrl: string, decode: (name: string, bytes: Uint8Array) => T): TestSubscriber<T>;
  /** Runs `fn` at the end of the test, before the leak check. */
  defer(fn: () => unknown): void;
}

export interface TestSubscriber<T> {
  readonly client: XdsClient;
  /** The decode errors the client NACKed, as strings: a resource the controller publishes should never land here. */
  readonly nacks: string[];
  /** name -> resource, from the client's state. */
  held(): Map<string, T>;
}

/**
 * Creates the fixtures of one test; everything it made is closed when the test ends, and the test fails if a socket
 * or timer outlives that.
 */
export function harness(t: { after(fn: () => unknown): void }): Harness {
  const dir = makeSocketDir();
  const baseline = { sockets: openSockets(), timers: pendingTimers() };
  const servers: XdsServer[] = [];
  const clients: XdsClient[] = [];
  const deferred: Array<() => unknown> = [];
  let seq = 0;
  t.after(async () => {
    for (const fn of deferred) await fn();
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.close()));
    dir.remove();
    await eventuallyNoLeaks(baseline);
  });
  return {
    dir,
    defer: (fn) => deferred.push(fn),
    async server(options = {}, socketName = 'xds.sock') {
      const s = await createXdsServer({ listen: { socketPath: dir.path(socketName) }, log: silentLogger(), ...options });
      servers.push(s);
      return s;
    },
    client(target, options = {}) {
      const changes: Array<XdsChange<AddressResource>> = [];
      const { names, ...rest } = options;
      const client = createXdsClient({
        target,
        node: { id: `ztunnel~10.0.0.${++seq}~ztunnel-${seq}.ambit-system~ambit-system.svc.cluster.local` },
        types: [
          xdsType<AddressResource>({
            typeUrl: ADDRESS_TYPE_URL,
            ...(names ? { names } : {}),
            decode: (_name, bytes) => decodeAddress(bytes),
            onChange: (c) => changes.push(c),
          }),
        ],
        log: silentLogger(),
        backoff: { initialMs: 20, maxMs: 200 },
        ...rest,
      });
      clients.push(client);
      return {
        client,
        changes,
        workloads() {
          const out = new Map<string, Workload>();
          for (const [name, r] of client.state<AddressResource>(ADDRESS_TYPE_URL)) if ('workload' in r) out.set(name, r.workload);
          return out;
        },
      };
    },
    subscribe<T>(target: string, typeUrl: string, decode: (name: string, bytes: Uint8Array) => T): TestSubscriber<T> {
      const nacks: string[] = [];
      const client = createXdsClient({
        target,
        node: { id: 'waypoint~10.244.1.9~wp-abc.demo~demo.svc.cluster.local' },
        types: [
          xdsType<T>({
            typeUrl,
            decode: (name, bytes) => {
              try {
                return decode(name, bytes);
              } catch (err) {
                nacks.push(String(err));
                throw err;
              }
            },
            onChange: () => undefined,
          }),
        ],
        log: silentLogger(),
        backoff: { initialMs: 20, maxMs: 200 },
      });
      clients.push(client);
      return { client, nacks, held: () => new Map(client.state<T>(typeUrl)) };
    },
  };
}

async function eventuallyNoLeaks(baseline: { sockets: number; timers: number }): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const sockets = openSockets();
    const timers = pendingTimers();
    if (sockets <= baseline.sockets && timers <= baseline.timers) return;
    if (Date.now() > deadline) assert.fail(`leaked: ${sockets - baseline.sockets} sockets, ${timers - baseline.timers} timers`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A unix-socket relay in front of the server: `cut()` drops every proxied connection and stops accepting. */
export interface Relay {
  readonly target: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(listenPath: string, upstreamPath: string): Promise<Relay> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((down) => {
        const up = createConnection(upstreamPath);
        for (const sock of [down, up]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => {
            down.destroy();
            up.destroy();
          });
        }
        down.pipe(up).pipe(down);
      });
      s.once('error', reject);
      s.listen(listenPath, () => resolve());
      server = s;
    });
  const stop = async () => {
    for (const s of sockets) s.destroy();
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return { target: `unix:${listenPath}`, cut: stop, restore: listen, close: stop };
}
