// The node-local API endpoint of a local cluster node: `node local/src/runner/node-api-forwarder.ts --listen
// 127.0.0.1:PORT [--listen NODE_IP:PORT …] --to SOCKET`, started by the runner inside the node's network namespace
// (node-api.ts), so its listening sockets are created in that namespace by the kernel, never by a setns from the
// host. Connections are joined to the API server's TLS unix socket: the node agent and the CNI plugin reach
// https://127.0.0.1:PORT with the API's certificate and token, as on a real node, and pods reach the node's underlay
// address, the `default/kubernetes` Service's endpoint. Plain `node` runs it (type stripping; only node: imports), a
// few MB instead of tsx's loader. Exits 2 on bad flags, 1 when it cannot listen, 0 on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { startForwarder, type Forwarder } from '../net/tcp-unix-forwarder.ts';

const USAGE = 'usage: node-api-forwarder.ts --listen HOST:PORT [--listen HOST:PORT …] --to UNIX_SOCKET';

function fail(code: number, message: string): never {
  process.stderr.write(`ambit node API forwarder: ${message}\n`);
  process.exit(code);
}

function flags(): { listen: Array<{ host: string; port: number }>; socketPath: string } {
  let values;
  try {
    ({ values } = parseArgs({
      options: { listen: { type: 'string', multiple: true }, to: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail(2, `${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
  const listen = (values.listen ?? []).map((text) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
    if (m === null) return fail(2, `--listen must be IPv4:PORT, got ${JSON.stringify(text)}\n${USAGE}`);
    return { host: m[1] ?? '', port: Number(m[2]) };
  });
  if (listen.length === 0) return fail(2, `--listen is required\n${USAGE}`);
  const socketPath = values.to ?? '';
  if (!socketPath.startsWith('/')) return fail(2, `--to must be an absolute unix socket path, got ${JSON.stringify(socketPath)}\n${USAGE}`);
  return { listen, socketPath };
}

const opts = flags();
const forwarders: Forwarder[] = [];
for (const { host, port } of opts.listen) {
  try {
    const forwarder = await startForwarder({ host, port, socketPath: opts.socketPath });
    forwarders.push(forwarder);
    process.stderr.write(`ambit node API forwarder: ${host}:${forwarder.port} -> ${opts.socketPath}\n`);
  } catch (err) {
    fail(1, `cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    Promise.all(forwarders.map((f) => f.close())).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
