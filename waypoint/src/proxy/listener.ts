import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createHboneServer, type HboneTakeDecision, type HboneTunnelMeta } from '@ambit/core/hbone';
import type { WaypointInputs } from './proxy-inputs.ts';

/** The waypoint's 15008 listener: terminates HBONE from source ztunnels and serves what each tunnel carries. */
export interface WaypointListener {
  address(): { address: string; port: number };
  /** Stops accepting, sends GOAWAY, waits up to `graceMs` (default 0) for tunnels to finish, then closes the rest. */
  close(graceMs?: number): Promise<void>;
  stats(): Record<string, number>;
}

/** HBONE inbound port (reference istio-ambient.md §1). */
export const HBONE_PORT = 15008;

export async function startWaypointListener(
  inputs: WaypointInputs,
  opts: { host?: string; port?: number } = {},
): Promise<WaypointListener> {
  const log = inputs.log.child({ component: 'waypoint-listener' });
  const counters = { tunnelsAccepted: 0, tunnelsRefused: 0 };
  const hbone = createHboneServer({
    // HBONE has no SNI: every address of the pod presents the waypoint's one certificate.
    certFor: () => inputs.cert(),
    roots: inputs.roots,
    trustDomain: inputs.config.trustDomain,
    maxConcurrentStreams: 100,
    handshakeTimeoutMs: 10_000,
    takeTunnel: (meta: HboneTunnelMeta): HboneTakeDecision => {
      counters.tunnelsRefused += 1;
      return { allow: false, status: 503, reason: `waypoint data path not ready for ${meta.authority}` };
    },
    log: inputs.log,
  });
  const server: Server = createServer({ allowHalfOpen: true }, (s: Socket) => hbone.handle(s));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? HBONE_PORT, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  log.info({ address: server.address() }, 'waypoint HBONE listener up');
  return {
    address() {
      const a = server.address() as AddressInfo;
      return { address: a.address, port: a.port };
    },
    async close(graceMs = 0) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await hbone.close(graceMs);
      await closed;
    },
    stats: () => ({ ...counters }),
  };
}
