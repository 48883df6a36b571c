// The agent's HTTP/1.1 server on a unix socket for the CNI plugin (contract: cni/README.md, src/plugin/agent-client.ts).
// ADD answers 200 only once the pod is captured and ztunnel has its listeners up; DEL answers 200 whether or not the
// sandbox was ever enrolled (CNI spec: DEL tolerates missing state).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { AmbitError, errorMessage, isRecord, type Logger } from '@ambit/core';
import { AGENT_ADD_PATH, AGENT_DEL_PATH, type AgentAddRequest, type AgentDelRequest } from '../plugin/agent-client.ts';
import type { AgentState } from './agent-state.ts';
import type { KeyedSerializer } from './keyed-serializer.ts';
import { podWantsCapture } from './kube-objects.ts';
import { EnrolError, type PodEnroller } from './pod-enroller.ts';
import { PodLookupError, type PodAndNamespace, type PodLookup } from './pod-lookup.ts';
import { AGENT_EXEC_PATH, handlePluginExec } from './plugin-exec.ts';
import { listenPrivate } from './private-socket.ts';

export interface CniServerOptions {
  readonly socketPath: string;
  /** The pod's uid, service account and labels, and its namespace's labels: informer caches first, then the API. */
  readonly lookup: PodLookup;
  readonly excludeNamespaces: readonly string[];
  readonly state: AgentState;
  readonly enroller: PodEnroller;
  readonly locks: KeyedSerializer;
  readonly log: Logger;
}

export interface CniServer {
  close(): Promise<void>;
}

/** A request the server answers with a non-200; `message` goes to the plugin, which names it in its CNI error. */
class HttpError extends AmbitError {
  readonly status: number;

  constructor(status: number, message: string) {
    super(`HTTP_${status}`, message);
    this.status = status;
  }
}

/** A CNI request body is a few hundred bytes; anything near this is not one. */
const MAX_BODY_BYTES = 64 * 1024;

type Json = Record<string, unknown>;

function requireString(o: Json, field: string, what: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v === '') throw new HttpError(400, `${what}: field ${field} must be a non-empty string`);
  return v;
}

function optionalString(o: Json, field: string, what: string): string | undefined {
  if (o[field] === undefined) return undefined;
  return requireString(o, field, what);
}

function bodyObject(text: string, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `${what}: body is not JSON: ${errorMessage(err)}`);
  }
  if (!isRecord(v)) throw new HttpError(400, `${what}: body must be a JSON object`);
  return v;
}

export function parseAddRequest(text: string): AgentAddRequest {
  const what = 'add request';
  const o = bodyObject(text, what);
  const netns = requireString(o, 'netns', what);
  if (!netns.startsWith('/'))
    throw new HttpError(400, `${what}: field netns must be an absolute path (CNI_NETNS), got ${JSON.stringify(netns)}`);
  const ips = o['ips'];
  if (!Array.isArray(ips)) throw new HttpError(400, `${what}: field ips must be a list of IP addresses`);
  ips.forEach((ip: unknown, i) => {
    if (typeof ip !== 'string' || isIP(ip) === 0)
      throw new HttpError(400, `${what}: field ips[${i}] must be an IP address without prefix length`);
  });
  const podUid = optionalString(o, 'podUid', what);
  return {
    ...(podUid === undefined ? {} : { podUid }),
    podName: requireString(o, 'podName', what),
    podNamespace: requireString(o, 'podNamespace', what),
    netns,
    containerId: requireString(o, 'containerId', what),
    ifName: requireString(o, 'ifName', what),
    ips: ips as string[],
  };
}

export function parseDelRequest(text: string): AgentDelRequest {
  const what = 'del request';
  const o = bodyObject(text, what);
  const podName = optionalString(o, 'podName', what);
  const podNamespace = optionalString(o, 'podNamespace', what);
  return {
    containerId: requireString(o, 'containerId', what),
    ...(podName === undefined ? {} : { podName }),
    ...(podNamespace === undefined ? {} : { podNamespace }),
  };
}

export async function startCniServer(opts: CniServerOptions): Promise<CniServer> {
  const log = opts.log.child({ component: 'cni-server' });

  const lookUp = async (ns: string, name: string, uid: string | undefined): Promise<PodAndNamespace> => {
    try {
      return await opts.lookup.lookUp(ns, name, uid);
    } catch (err) {
      // 503 for everything but a pod that does not exist: the plugin maps any non-200 to CNI code 11 (retry).
      throw new HttpError(err instanceof PodLookupError && err.notFound ? 404 : 503, errorMessage(err));
    }
  };

  const add = async (body: string): Promise<void> => {
    const req = parseAddRequest(body);
    const what = `pod ${req.podNamespace}/${req.podName}`;
    const { pod, namespace } = await lookUp(req.podNamespace, req.podName, req.podUid);
    if (req.podUid !== undefined && req.podUid !== pod.uid) {
      // The pod was deleted and re-created under the same name: this sandbox belongs to the old one.
      throw new HttpError(409, `${what}: the runtime's uid ${req.podUid} is not the API's ${pod.uid}`);
    }
    if (!podWantsCapture(pod, namespace, opts.excludeNamespaces)) {
      // A plugin without a kubeconfig sends every pod; leaving the non-ambient ones alone is ours to decide.
      log.debug({ pod: what }, 'not ambient: left alone');
      return;
    }
    await opts.locks.run(pod.uid, () =>
      opts.enroller.enrol({
        uid: pod.uid,
        name: pod.name,
        namespace: pod.namespace,
        serviceAccount: pod.serviceAccount,
        netns: req.netns,
        ips: req.ips,
        containerId: req.containerId,
      }),
    );
  };

  const del = async (body: string): Promise<void> => {
    const req = parseDelRequest(body);
    const found = opts.state.findForDel(req.containerId, req.podNamespace, req.podName);
    if (found === undefined) return;
    await opts.locks.run(found.uid, async () => {
      // Looked up again under the pod's lock: an ADD or reconcile that ran meanwhile may have changed it.
      const current = opts.state.findForDel(req.containerId, req.podNamespace, req.podName);
      if (current?.uid === found.uid) await opts.enroller.release(current, { removeRules: true });
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const path = (req.url ?? '').split('?')[0] ?? '';
    let status = 200;
    let message: string | undefined;
    try {
      if (path === AGENT_EXEC_PATH && req.method === 'POST') {
        const { exitCode } = await handlePluginExec(req, await readBody(req), res, opts.lookup, log, opts.socketPath);
        log.info({ path, command: req.headers['cni-command'], exitCode, ms: Date.now() - started }, 'cni request');
        return;
      }
      const route = path === AGENT_ADD_PATH ? add : path === AGENT_DEL_PATH ? del : undefined;
      if (route === undefined)
        throw new HttpError(
          404,
          `no such path ${JSON.stringify(path)}; the agent serves POST ${AGENT_ADD_PATH}, ${AGENT_DEL_PATH} and ${AGENT_EXEC_PATH}`,
        );
      if (req.method !== 'POST') throw new HttpError(405, `${path} takes POST, not ${req.method ?? '?'}`);
      await route(await readBody(req));
    } catch (err) {
      status = err instanceof HttpError ? err.status : err instanceof EnrolError ? err.httpStatus : 500;
      message = errorMessage(err);
    }
    if (!res.headersSent) {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(message === undefined ? {} : { message }));
    }
    const line = { path, status, ms: Date.now() - started, ...(message === undefined ? {} : { err: message }) };
    if (status === 200) log.info(line, 'cni request');
    else log.warn(line, 'cni request failed');
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  // Bounded: a stuck plugin must not hold a connection forever (its own bound is 10 s by default).
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // Whoever can call it can capture or release any pod of the node: root only (the plugin runs as root).
  await listenPrivate(server, opts.socketPath);
  log.info({ socket: opts.socketPath }, 'serving the CNI plugin');

  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the bound the rest is read and dropped, so the 413 can still be written back.
      if (size > MAX_BODY_BYTES) reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
