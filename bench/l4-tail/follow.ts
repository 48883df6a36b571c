import { join } from 'node:path';
import { PORTS } from '../l4/servers.ts';
import { readHbone, readPackets } from './capture.ts';
import { requestHops, type Hops, type Taps } from './hops.ts';

/** HAProxy's TLS port for the app port (bench/l4/servers.ts). */
const HAPROXY_TLS_PORT = PORTS.http + 20_000;
const HBONE_PORT = 15008;
/** The ztunnel's outbound listener in the client pod, where the capture rules redirect h2load's connections. */
const ZTUNNEL_OUTBOUND_PORT = 15001;

/**
 * Follows the requests of one run through its six captures in `dir` (clientLo, clientEth, node1, node2, serverEth,
 * serverLo .pcap). Ambit's HBONE session is decrypted with `keylog` and its CONNECTs name the h2load connection each
 * stream carries; otherwise (HAProxy's one TLS connection per h2load connection, and the server proxy's connections to
 * the app in both modes) which channel carries which is read off the exchanges' timing (hops.ts pairByContainment).
 */
export async function followRequests(
  dir: string,
  mode: 'ambit' | 'haproxy',
  keylog?: string,
): Promise<{ hops: Hops[]; disordered: number }> {
  const ambit = mode === 'ambit';
  const tunnelPort = ambit ? HBONE_PORT : HAPROXY_TLS_PORT;
  const clientProxyPorts = new Set(ambit ? [ZTUNNEL_OUTBOUND_PORT, PORTS.http] : [PORTS.http]);
  const file = (name: string): string => join(dir, `${name}.pcap`);
  if (ambit && keylog === undefined) throw new Error("Ambit captures need the ztunnels' TLS key log");
  const hbone = ambit && keylog !== undefined ? await readHbone(file('clientEth'), { port: tunnelPort, keylog }) : undefined;
  const taps: Taps = {
    clientLo: await readPackets(file('clientLo')),
    clientEth: hbone?.packets ?? (await readPackets(file('clientEth'))),
    node1: await readPackets(file('node1')),
    node2: await readPackets(file('node2')),
    serverEth: await readPackets(file('serverEth')),
    serverLo: await readPackets(file('serverLo')),
    ...(hbone === undefined ? {} : { forwarded: new Map(hbone.connects.map((c) => [c.forwardedFor, c.channel])) }),
  };
  return requestHops(taps, { clientProxyPorts, tunnelPort, tunnel: ambit ? 'hbone' : 'tls', appPort: PORTS.http });
}
