import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestHops, type Packet, type Taps } from './hops.ts';

// Synthetic captures of two h2load connections whose requests leave in bursts, as h2load's timers make them: both
// requests at once, then their answers in an order that changes from burst to burst. The pairing must follow every
// request through the right tunnel channel and server connection; in bursts, time order alone cannot tell them apart.

const CLIENT = ['10.0.1.5:40000', '10.0.1.5:40002'];
const PROXY = '127.0.0.1:15001';
const TUNNEL_CLIENT = ['10.0.1.5:50000', '10.0.1.5:50002'];
const TUNNEL_SERVER = '10.0.2.7:28080';
const APP_CLIENT = ['127.0.0.1:60000', '127.0.0.1:60002'];
const APP = '127.0.0.1:8080';

function pkt(t: number, src: string, dst: string, seq: number, frames: Packet['frames'] = []): Packet {
  return { t, src, dst, seq, len: 1100, frames };
}

/** Bursts of two requests; in odd bursts connection 1's answer comes first. Returns the taps and each request's total. */
function scenario(bursts: number, hbone: boolean): { taps: Taps; totals: Map<string, number> } {
  const taps = { clientLo: [], clientEth: [], node1: [], node2: [], serverEth: [], serverLo: [] } as Record<
    keyof Omit<Taps, 'forwarded'>,
    Packet[]
  >;
  const totals = new Map<string, number>();
  // One HBONE connection: its segments' sequence numbers run on across both streams.
  let upSeq = 0;
  let downSeq = 0;
  for (let b = 0; b < bursts; b++) {
    const t0 = 1_000_000 + b * 4000;
    for (const c of [0, 1]) {
      const late = (b % 2 === 1 ? 1 - c : c) * 40;
      const loReq = t0 + c * 5;
      const tunnelSrc = hbone ? (TUNNEL_CLIENT[0] ?? '') : (TUNNEL_CLIENT[c] ?? '');
      const frames = hbone ? [{ stream: 1 + 2 * c, len: 1100 }] : [];
      const reqSeq = hbone ? upSeq++ : c * 1000 + b;
      const respSeq = hbone ? downSeq++ : c * 1000 + b;
      const req = pkt(t0 + 60 + c * 10, tunnelSrc, TUNNEL_SERVER, reqSeq, frames);
      const resp = pkt(t0 + 300 + late, TUNNEL_SERVER, tunnelSrc, respSeq, frames);
      taps.clientLo.push(pkt(loReq, CLIENT[c] ?? '', PROXY, b));
      taps.clientEth.push(req, resp);
      taps.node1.push({ ...req, t: req.t + 5 }, { ...resp, t: resp.t - 5 });
      taps.node2.push({ ...req, t: req.t + 7 }, { ...resp, t: resp.t - 7 });
      taps.serverEth.push({ ...req, t: req.t + 10 }, { ...resp, t: resp.t - 10 });
      taps.serverLo.push(pkt(t0 + 120 + c * 10, APP_CLIENT[c] ?? '', APP, b), pkt(t0 + 280 + late, APP, APP_CLIENT[c] ?? '', b));
      const loResp = t0 + 330 + late;
      taps.clientLo.push(pkt(loResp, PROXY, CLIENT[c] ?? '', b));
      totals.set(`${c}/${b}`, loResp - loReq);
    }
  }
  const forwarded = hbone ? new Map(CLIENT.map((c, i) => [c, `${TUNNEL_CLIENT[0]}/${1 + 2 * i}`])) : undefined;
  return { taps: { ...taps, ...(forwarded === undefined ? {} : { forwarded }) }, totals };
}

for (const hbone of [false, true]) {
  test(`every request of a bursty load is followed through the right channels (${hbone ? 'HBONE streams' : 'a TLS connection each'})`, () => {
    const { taps, totals } = scenario(40, hbone);
    const { hops, disordered } = requestHops(taps, {
      clientProxyPorts: new Set([15001]),
      tunnelPort: 28080,
      tunnel: hbone ? 'hbone' : 'tls',
      appPort: 8080,
    });
    assert.equal(disordered, 0);
    assert.equal(hops.length, 80, 'both connections, every burst');
    for (const h of hops) {
      assert.equal(h.length, 12);
      for (let i = 1; i < h.length; i++) assert.ok((h[i] ?? 0) >= (h[i - 1] ?? 0), `hop ${i} in order: ${h.join(' ')}`);
      const c = ((h[0] ?? 0) - 1_000_000) % 4000 === 0 ? 0 : 1;
      const b = Math.floor(((h[0] ?? 0) - 1_000_000) / 4000);
      assert.equal((h[11] ?? 0) - (h[0] ?? 0), totals.get(`${c}/${b}`), `request ${c}/${b}: its own answer`);
      // The server connection's answer is this request's own: 10 µs before it leaves the server pod.
      assert.equal((h[7] ?? 0) - (h[6] ?? 0), 0 + 10, `request ${c}/${b}: server proxy, response`);
    }
  });
}
