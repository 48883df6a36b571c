// Per-request hop timestamps from packet captures (bench/l4-tail.bench.ts). Each capture point ("tap") yields packets;
// a request is followed across taps by three matchings:
//   client lo (h2load ↔ client proxy, plaintext)  →  the tunnel on the client pod's eth0 (one TLS connection per
//   h2load connection for HAProxy; one HTTP/2 stream of the shared HBONE session for Ambit, read decrypted)
//   →  the same TCP segments on the node links and the server pod's eth0 (matched by 4-tuple and sequence number)
//   →  server lo (server proxy ↔ nginx, plaintext).
// Which channel carries which is known for HBONE streams (their CONNECT's `forwarded` header) and otherwise read off the
// exchanges' timing (pairByContainment); within a pair of channels, matching is by time order (the n-th request on a
// connection is the first exchange on its tunnel channel at or after it), so the TLS handshake's own records or an
// early ticket never shift it.

/** One TCP segment with payload, as one tap saw it. */
export interface Packet {
  /** Capture time, µs since the epoch (kernel timestamp at the tap). */
  readonly t: number;
  readonly src: string;
  readonly dst: string;
  readonly seq: number;
  readonly len: number;
  /** HTTP/2 DATA frames (stream id, payload length) that completed in this segment; only on a decrypted HBONE tap. */
  readonly frames: readonly { readonly stream: number; readonly len: number }[];
}

/** A segment's identity on every tap it crosses (no NAT between the pods' interfaces). */
function segmentKey(p: Pick<Packet, 'src' | 'dst' | 'seq'>): string {
  return `${p.src}>${p.dst}#${p.seq}`;
}

/** One request and its response on one channel: when each was complete at this tap, and the segment that completed it. */
interface Exchange {
  readonly channel: string;
  reqLast: number;
  reqKey: string;
  respLast: number | undefined;
  respKey: string | undefined;
}

/** What a packet contributes: to which channel, and whether it goes client → server. */
interface Unit {
  readonly channel: string;
  readonly request: boolean;
}

/**
 * Groups a tap's packets (any order) into exchanges per channel: a run of request units opens an exchange (or extends
 * the open one while no response unit came yet), response units complete it. Response units before any request are
 * ignored (a TLS session ticket, a server's greeting).
 */
function exchanges(packets: readonly Packet[], unitsOf: (p: Packet) => readonly Unit[]): Map<string, Exchange[]> {
  const byChannel = new Map<string, Exchange[]>();
  const sorted = [...packets].sort((a, b) => a.t - b.t);
  for (const p of sorted) {
    const key = segmentKey(p);
    for (const u of unitsOf(p)) {
      let list = byChannel.get(u.channel);
      if (list === undefined) byChannel.set(u.channel, (list = []));
      const open = list[list.length - 1];
      if (u.request) {
        if (open !== undefined && open.respLast === undefined) {
          open.reqLast = p.t;
          open.reqKey = key;
        } else {
          list.push({ channel: u.channel, reqLast: p.t, reqKey: key, respLast: undefined, respKey: undefined });
        }
      } else if (open !== undefined) {
        open.respLast = p.t;
        open.respKey = key;
      }
    }
  }
  return byChannel;
}

/** Plain TCP flows (lo taps): the channel is the client's endpoint, the side whose port is not one of `serverPorts`. */
function tcpUnits(serverPorts: ReadonlySet<number>): (p: Packet) => readonly Unit[] {
  return (p) => {
    const toServer = serverPorts.has(portOf(p.dst));
    const fromServer = serverPorts.has(portOf(p.src));
    if (toServer === fromServer) return [];
    return [{ channel: toServer ? p.src : p.dst, request: toServer }];
  };
}

/**
 * A TLS tunnel per connection (HAProxy's pair): every segment counts. The handshake's own flights come before a
 * connection's first request, and `pair` only takes an exchange that starts before the next request, so at worst a
 * connection's first request (inside the warm-up) pairs with its handshake.
 */
function tlsUnits(serverPort: number): (p: Packet) => readonly Unit[] {
  return tcpUnits(new Set([serverPort]));
}

/** HBONE: each HTTP/2 stream of a session is a channel; a segment counts for every stream it completes DATA of. */
function hboneUnits(serverPort: number): (p: Packet) => readonly Unit[] {
  return (p) => {
    const request = portOf(p.dst) === serverPort;
    if (!request && portOf(p.src) !== serverPort) return [];
    const conn = request ? p.src : p.dst;
    const streams = new Set(p.frames.filter((f) => f.len > 0).map((f) => f.stream));
    return [...streams].map((s) => ({ channel: `${conn}/${s}`, request }));
  };
}

function portOf(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

/**
 * Pairs each exchange of `from` with the exchange that carried it on `to`, given which channel carries which
 * (`channels`: from-channel → to-channel): the n-th `from` exchange takes the first unused `to` exchange at or after its
 * time and before the next `from` exchange's. `fromTime`/`toTime` give the times compared (the moment the request is
 * complete at each tap). Channels cannot be paired by time alone: h2load's timers fire for every connection at once,
 * so a burst's requests leave together (for Ambit, in one TLS record).
 */
function pair(
  from: Map<string, Exchange[]>,
  to: Map<string, Exchange[]>,
  channels: ReadonlyMap<string, string>,
  fromTime: (e: Exchange) => number | undefined,
  toTime: (e: Exchange) => number | undefined,
): Map<Exchange, Exchange> {
  const result = new Map<Exchange, Exchange>();
  for (const [channel, list] of from) {
    const target = channels.get(channel);
    if (target === undefined) continue;
    const candidates = (to.get(target) ?? [])
      .map((e) => ({ e, t: toTime(e) }))
      .filter((x): x is { e: Exchange; t: number } => x.t !== undefined)
      .sort((a, b) => a.t - b.t);
    let j = 0;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      const t = e === undefined ? undefined : fromTime(e);
      if (e === undefined || t === undefined) continue;
      const next = list[i + 1];
      const limit = next === undefined ? Infinity : (fromTime(next) ?? Infinity);
      while (j < candidates.length && (candidates[j]?.t ?? Infinity) < t) j++;
      const c = candidates[j];
      if (c !== undefined && c.t < limit) {
        result.set(e, c.e);
        j++;
      }
    }
  }
  return result;
}

/**
 * Which `inner` channel carries which `outer` channel (a connection and its tunnel, a tunnel and the server proxy's
 * connection to the app), from the exchanges themselves: the inner exchange of a request starts after the outer one
 * and its response ends before the outer response does. The right channel holds to that for nearly every exchange; a
 * wrong one from the same burst only by chance, about half the time. Scores each pair over the first `sample`
 * exchanges and assigns greedily, best first. `outerTimes` gives the outer exchange's request and response times as
 * seen where the inner channel starts (e.g. at the server pod's eth0 for the tunnel).
 */
function pairByContainment(
  outer: Map<string, Exchange[]>,
  inner: Map<string, Exchange[]>,
  outerTimes: (e: Exchange) => { readonly req: number | undefined; readonly resp: number | undefined },
  sample = 300,
): Map<string, string> {
  const scores: { o: string; i: string; score: number }[] = [];
  for (const [o, outerList] of outer) {
    const head = new Map([[o, outerList.slice(0, sample)]]);
    for (const i of inner.keys()) {
      const pairs = pair(
        head,
        inner,
        new Map([[o, i]]),
        (e) => outerTimes(e).req,
        (e) => e.reqLast,
      );
      let score = 0;
      for (const [oe, ie] of pairs) {
        const resp = outerTimes(oe).resp;
        if (resp !== undefined && ie.respLast !== undefined && ie.respLast <= resp) score += 1;
      }
      scores.push({ o, i, score });
    }
  }
  scores.sort((a, b) => b.score - a.score);
  const result = new Map<string, string>();
  const taken = new Set<string>();
  for (const { o, i, score } of scores) {
    if (score === 0 || result.has(o) || taken.has(i)) continue;
    result.set(o, i);
    taken.add(i);
  }
  return result;
}

/**
 * The twelve moments of one request, µs since the epoch, each when the request (or its answer) is complete at a tap:
 *  0 client lo (h2load sent it)       1 client eth0 (tunnelled, leaving)   2 node1 link   3 node2 link
 *  4 server eth0 (arrived)            5 server lo (proxy → app)            6 server lo (app answered)
 *  7 server eth0 (answer leaving)     8 node2 link   9 node1 link   10 client eth0 (arrived)   11 client lo (to h2load)
 */
export type Hops = readonly number[];

/** Phases between consecutive hop groups, as [name, from hop, to hop]. */
export const PHASES: readonly (readonly [string, number, number])[] = [
  ['client proxy, request', 0, 1],
  ['network, request', 1, 4],
  ['server proxy, request', 4, 5],
  ['app', 5, 6],
  ['server proxy, response', 6, 7],
  ['network, response', 7, 10],
  ['client proxy, response', 10, 11],
];

export interface Taps {
  readonly clientLo: readonly Packet[];
  /** The reference tap, where tunnel channels are told apart: decrypted for Ambit (HTTP/2 streams). */
  readonly clientEth: readonly Packet[];
  readonly node1: readonly Packet[];
  readonly node2: readonly Packet[];
  readonly serverEth: readonly Packet[];
  readonly serverLo: readonly Packet[];
  /** Ambit: which HBONE stream carries which h2load connection (its CONNECT's `forwarded: for=`). */
  readonly forwarded?: ReadonlyMap<string, string>;
}

export interface HopOptions {
  /** The port the client proxy listens on in the client pod (Ambit: 15001 after the redirect; HAProxy: the app port). */
  readonly clientProxyPorts: ReadonlySet<number>;
  /** The tunnel's server port (Ambit: 15008; HAProxy: its TLS port). */
  readonly tunnelPort: number;
  readonly tunnel: 'hbone' | 'tls';
  /** The app's port on server lo. */
  readonly appPort: number;
}

/**
 * Follows every request of a run across the taps. Returns the requests seen at every hop in order, and how many were
 * seen everywhere but out of order (a mis-pairing; left out rather than guessed at).
 */
export function requestHops(taps: Taps, o: HopOptions): { hops: Hops[]; disordered: number } {
  const lo = exchanges(taps.clientLo, tcpUnits(o.clientProxyPorts));
  const tunnel = exchanges(taps.clientEth, o.tunnel === 'hbone' ? hboneUnits(o.tunnelPort) : tlsUnits(o.tunnelPort));
  const server = exchanges(taps.serverLo, tcpUnits(new Set([o.appPort])));
  const times = (packets: readonly Packet[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const p of packets) {
      const k = segmentKey(p);
      // A retransmission keeps the first sighting: that is when the request really passed.
      if (!m.has(k)) m.set(k, p.t);
    }
    return m;
  };
  const n1 = times(taps.node1);
  const n2 = times(taps.node2);
  const se = times(taps.serverEth);
  const loChannels = taps.forwarded ?? pairByContainment(lo, tunnel, (e) => ({ req: e.reqLast, resp: e.respLast }));
  const loToTunnel = pair(
    lo,
    tunnel,
    loChannels,
    (e) => e.reqLast,
    (e) => e.reqLast,
  );
  const atServer = (e: Exchange): { req: number | undefined; resp: number | undefined } => ({
    req: se.get(e.reqKey),
    resp: e.respKey === undefined ? undefined : se.get(e.respKey),
  });
  const tunnelToServer = pair(
    tunnel,
    server,
    pairByContainment(tunnel, server, atServer),
    (e) => atServer(e).req,
    (e) => e.reqLast,
  );
  const out: Hops[] = [];
  let disordered = 0;
  for (const list of lo.values()) {
    for (const l of list) {
      const r = loToTunnel.get(l);
      const s = r === undefined ? undefined : tunnelToServer.get(r);
      // Each hop must have been seen (the check below); the answer's segment is looked up at the other taps.
      if (r === undefined || s === undefined || r.respKey === undefined) continue;
      const hops = [
        l.reqLast,
        r.reqLast,
        n1.get(r.reqKey),
        n2.get(r.reqKey),
        se.get(r.reqKey),
        s.reqLast,
        s.respLast,
        se.get(r.respKey),
        n2.get(r.respKey),
        n1.get(r.respKey),
        r.respLast,
        l.respLast,
      ];
      if (!hops.every((h): h is number => h !== undefined)) continue;
      if (hops.some((h, i) => i > 0 && h < (hops[i - 1] ?? 0))) disordered += 1;
      else out.push(hops);
    }
  }
  return { hops: out.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0)), disordered };
}
