// An h2c backend (node:http2, prior knowledge) for the waypoint's plain HTTP/2 tests. Paths: `/sleep?ms=N` answers
// after N ms; `/trailers` answers with a body and trailers; `/download?bytes=N` sends N pattern bytes; anything else
// answers JSON describing the request (SeenRequest, body hashed as it streams), with no trailers.
import { createHash } from 'node:crypto';
import {
  connect as h2Connect,
  createServer,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { WaypointListenerTuning } from '../src/proxy/listener.ts';
import { makeService, makeWorkload, NS, sendPattern, startWaypointFixture, type SeenRequest, type WaypointFixture } from './fixture.ts';

export interface H2Backend {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  /** Streams open on the backend right now, and the most ever open at once. */
  readonly streams: { open: number; max: number };
  close(): Promise<void>;
}

export async function startH2Backend(name: string, ip: string): Promise<H2Backend> {
  const seen: SeenRequest[] = [];
  const streams = { open: 0, max: 0 };
  const sessions = new Set<ServerHttp2Session>();
  // Large windows, as a tuned server advertises: with Node's default 64 KiB a 20 MiB upload through the waypoint moves
  // 64 KiB per round trip of the whole path (~10 s measured on a loaded 2-core machine, 0.5 s with these).
  const server: Http2Server = createServer({ settings: { initialWindowSize: 4 * 1024 * 1024 } });
  server.on('session', (s: ServerHttp2Session) => {
    s.setLocalWindowSize(16 * 1024 * 1024);
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    streams.open += 1;
    streams.max = Math.max(streams.max, streams.open);
    stream.once('close', () => (streams.open -= 1));
    stream.on('error', () => undefined);
    const url = new URL(String(headers[':path'] ?? '/'), 'http://x');
    const h = createHash('sha256');
    let bodyBytes = 0;
    stream.on('data', (c: Buffer) => {
      bodyBytes += c.length;
      h.update(c);
    });
    stream.once('end', () => {
      const plain: Record<string, string | string[] | undefined> = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) plain[k] = v;
      const record: SeenRequest = {
        backend: name,
        method: String(headers[':method']),
        url: url.pathname + url.search,
        headers: plain,
        bodyBytes,
        sha256: h.digest('hex'),
      };
      seen.push(record);
      if (stream.destroyed) return;
      if (url.pathname === '/sleep') {
        setTimeout(
          () => {
            if (!stream.destroyed) stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { endStream: false });
            if (!stream.destroyed) stream.end('slept');
          },
          Number(url.searchParams.get('ms') ?? '0'),
        );
        return;
      }
      if (url.pathname === '/trailers') {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123' }));
        stream.end('with trailers');
        return;
      }
      if (url.pathname === '/download') {
        const total = Number(url.searchParams.get('bytes') ?? '0');
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'content-length': String(total) });
        sendPattern(stream, total, 9);
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-backend': name });
      stream.end(Buffer.from(JSON.stringify(record)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, ip, resolve));
  return {
    name,
    ip,
    port: (server.address() as AddressInfo).port,
    seen,
    streams,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The h2c mesh: Service `h2` (VIP 10.96.0.50:8080, declared HTTP2) and `h2sniff` (10.96.0.51:8081, undeclared), one pod. */
export const H2_VIP = { declared: '10.96.0.50', sniffed: '10.96.0.51' } as const;
const H2_POD = '127.0.0.6';

export interface H2Scenario {
  readonly fx: WaypointFixture;
  readonly backend: H2Backend;
  /** An h2c client session over a fresh tunnel to `authority` (default the declared Service). */
  session(authority?: string): Promise<ClientHttp2Session>;
  close(): Promise<void>;
}

export async function startH2Scenario(tuning: WaypointListenerTuning = {}): Promise<H2Scenario> {
  const fx = await startWaypointFixture(tuning);
  const backend = await startH2Backend('h2', H2_POD);
  await fx.addPod(H2_POD, 'h2');
  const declared = [{ servicePort: 8080, targetPort: backend.port, appProtocol: 'HTTP2' as const }];
  const sniffed = [{ servicePort: 8081, targetPort: backend.port, appProtocol: 'UNKNOWN' as const }];
  fx.state.services = [makeService('h2', H2_VIP.declared, declared), makeService('h2sniff', H2_VIP.sniffed, sniffed)];
  fx.state.workloads = [
    makeWorkload('h2', H2_POD, { [`${NS}/h2.${NS}.svc.cluster.local`]: declared, [`${NS}/h2sniff.${NS}.svc.cluster.local`]: sniffed }),
  ];
  fx.state.bump();
  const sessions: ClientHttp2Session[] = [];
  return {
    fx,
    backend,
    async session(authority = `${H2_VIP.declared}:8080`) {
      const tunnel = await fx.open(authority);
      const s = h2Connect(`http://${authority}`, { createConnection: () => tunnel });
      s.on('error', () => undefined);
      sessions.push(s);
      return s;
    },
    async close() {
      for (const s of sessions) s.destroy();
      await fx.close();
      await backend.close();
    },
  };
}
