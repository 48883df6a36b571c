import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hardFdLimit, startInNetns, type NetnsProcess } from './netns-process.ts';

/** The server pod's ports (the same in every mode, so clients differ only in where they connect). */
export const PORTS = { http: 8080, iperf: 5201, conn: 7100 } as const;
/** HAProxy's TLS ports on the server pod, one per app port (tcp mode carries no name to route on). */
const TLS_PORT_OFFSET = 20_000;
/** The response body: 1 KiB, as the request (performance.md method). */
export const BODY_BYTES = 1024;

export function listening(netns: string, port: number): Promise<boolean> {
  try {
    const out = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-ltnH', `sport = :${port}`], { encoding: 'utf8' });
    return Promise.resolve(out.trim().length > 0);
  } catch {
    return Promise.resolve(false);
  }
}

/** One nginx process (no master, no daemon, no access log) whose `http {}` block holds `httpBody`; state under `dir`. */
function nginxConfig(dir: string, httpBody: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 600s;
${httpBody}}
`;
}

/** The app of the latency runs: every request answered with 1 KiB, over HTTP/1.1 on `port` (and h2c on `h2cPort`). */
export function nginxAppServers(port: number, h2cPort?: number): string {
  const location = `location / { return 200 "${'x'.repeat(BODY_BYTES)}"; }`;
  const server = (listen: string): string => `  server {\n    listen ${listen};\n    ${location}\n  }\n`;
  return server(String(port)) + (h2cPort === undefined ? '' : server(`${h2cPort} http2`));
}

/** Starts nginx inside `netns` with `httpBody` as its `http {}` block; ready once it listens on `readyPort`. */
export async function startNginx(name: string, netns: string, dir: string, httpBody: string, readyPort: number): Promise<NetnsProcess> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, httpBody));
  return startInNetns(name, netns, ['nginx', '-p', dir, '-c', join(dir, 'nginx.conf')], join(dir, 'nginx.log'), () =>
    listening(netns, readyPort),
  );
}

/** Starts the server pod's programs: nginx (HTTP/1.1), iperf3 and the connection echo server. */
export async function startServers(netns: string, workDir: string, label: string, connServer: string): Promise<NetnsProcess[]> {
  const dir = join(workDir, `servers-${label}`);
  const started: NetnsProcess[] = [];
  try {
    started.push(await startNginx(`nginx (${label})`, netns, dir, nginxAppServers(PORTS.http), PORTS.http));
    started.push(
      await startInNetns(`iperf3 (${label})`, netns, ['iperf3', '-s', '-p', String(PORTS.iperf)], join(dir, 'iperf3.log'), () =>
        listening(netns, PORTS.iperf),
      ),
    );
    started.push(
      await startInNetns(
        `conn-server (${label})`,
        netns,
        [process.execPath, connServer, String(PORTS.conn)],
        join(dir, 'conn-server.log'),
        () => listening(netns, PORTS.conn),
      ),
    );
  } catch (err) {
    for (const p of started) await p.stop();
    throw err;
  }
  return started;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A private CA and two ECDSA P-256 leaves (as Ambit's workload certificates), each PEM bundle = cert + key. */
function makeCerts(dir: string): { ca: string; client: string; server: string } {
  const p = (f: string): string => join(dir, f);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('ca.key')]);
  openssl(['req', '-x509', '-new', '-key', p('ca.key'), '-subj', '/O=bench/CN=bench-ca', '-days', '2', '-out', p('ca.pem')]);
  for (const who of ['client', 'server']) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p(`${who}.key`)]);
    openssl(['req', '-new', '-key', p(`${who}.key`), '-subj', `/O=bench/CN=${who}`, '-out', p(`${who}.csr`)]);
    writeFileSync(
      p(`${who}.ext`),
      `subjectAltName=URI:spiffe://cluster.local/ns/plain/sa/${who}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    openssl([
      'x509',
      '-req',
      '-in',
      p(`${who}.csr`),
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      p(`${who}.ext`),
      '-out',
      p(`${who}.crt`),
    ]);
    execFileSync('sh', ['-c', `cat "${p(`${who}.crt`)}" "${p(`${who}.key`)}" > "${p(`${who}.pem`)}"`]);
  }
  return { ca: p('ca.pem'), client: p('client.pem'), server: p('server.pem') };
}

/** Connections one HAProxy can hold: two descriptors each, within the hard descriptor limit. */
export const HAPROXY_MAXCONN = Math.floor((hardFdLimit() - 200) / 2);

const HAPROXY_GLOBAL = `global
  maxconn ${HAPROXY_MAXCONN}
  # One thread, as one ztunnel process: the comparison is per process, and the 2-core machine also runs the load.
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
`;

/**
 * The peer a user could build instead of a mesh (performance.md): HAProxy in the client pod takes plain TCP on
 * 127.0.0.1:<app port> and carries it over mutual TLS 1.3 to HAProxy in the server pod, which hands it to the app on
 * 127.0.0.1. Both verify the other's certificate against a private CA.
 */
export async function startHaproxyPair(
  clientNetns: string,
  serverNetns: string,
  serverIp: string,
  workDir: string,
): Promise<{ client: NetnsProcess; server: NetnsProcess }> {
  const dir = join(workDir, 'haproxy');
  mkdirSync(dir, { recursive: true });
  const certs = makeCerts(dir);
  const ports = Object.values(PORTS);
  let serverCfg = HAPROXY_GLOBAL;
  let clientCfg = HAPROXY_GLOBAL;
  for (const port of ports) {
    const tls = port + TLS_PORT_OFFSET;
    serverCfg += `frontend in${port}
  bind ${serverIp}:${tls} ssl crt ${certs.server} ca-file ${certs.ca} verify required ssl-min-ver TLSv1.3
  default_backend app${port}
backend app${port}
  server app 127.0.0.1:${port}
`;
    clientCfg += `frontend out${port}
  bind 127.0.0.1:${port}
  default_backend peer${port}
backend peer${port}
  server peer ${serverIp}:${tls} ssl crt ${certs.client} ca-file ${certs.ca} verify required ssl-min-ver TLSv1.3
`;
  }
  writeFileSync(join(dir, 'server.cfg'), serverCfg);
  writeFileSync(join(dir, 'client.cfg'), clientCfg);
  const server = await startInNetns(
    'haproxy (server pod)',
    serverNetns,
    ['haproxy', '-db', '-f', join(dir, 'server.cfg')],
    join(dir, 'server.log'),
    () => listening(serverNetns, PORTS.http + TLS_PORT_OFFSET),
  );
  try {
    const client = await startInNetns(
      'haproxy (client pod)',
      clientNetns,
      ['haproxy', '-db', '-f', join(dir, 'client.cfg')],
      join(dir, 'client.log'),
      () => listening(clientNetns, PORTS.http),
    );
    return { client, server };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
