/**
 * The delta-xDS client that ztunnel, the waypoint and the node agent use to receive the mesh model
 * (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#incremental-xds). One gRPC stream carries every
 * subscribed type. The client holds the last good state of each type and keeps serving it while disconnected; it
 * reconnects forever with jittered exponential backoff and resumes by sending `initial_resource_versions`, so the
 * server sends only what changed while it was away (including removals).
 *
 * NACK policy: a response with any resource that fails `decode` is NACKed as a whole (error_detail names the resource
 * and the error) and none of it is applied, so the previous good versions stay in force. Applying the good part would
 * leave the proxy with a mix the control plane never published (e.g. a workload update without the policy it
 * references); all-or-nothing keeps each type at a state the server did publish at some point.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import { DELTA_AGGREGATED_RESOURCES_PATH, decodeDeltaResponse, encodeDeltaRequest, toStruct } from '../proto/load.ts';
import {
  RPC_INVALID_ARGUMENT,
  WILDCARD,
  type DeltaDiscoveryRequestWire,
  type DeltaDiscoveryResponseWire,
} from '../proto/discovery-wire.ts';
import { createBackoff, type BackoffOptions } from '../backoff.ts';
import { systemClock, type Clock, type ClockTimer } from '../clock.ts';
import { clientChannelOptions } from './channel-options.ts';

export interface XdsChange<T> {
  /** Resources added or changed by one accepted response, by name. */
  readonly upserted: ReadonlyMap<string, T>;
  /** Names removed by that response that the client held. */
  readonly removed: readonly string[];
}

export interface XdsTypeSubscription<T> {
  readonly typeUrl: string;
  /** Subscribe to these names only; default: every resource of the type (wildcard), as ztunnel does. */
  readonly names?: readonly string[];
  /** Turns a resource body into a domain value; throwing NACKs the whole response (see the NACK policy above). */
  decode(name: string, bytes: Uint8Array): T;
  /** Called once per accepted response, after the client's state reflects it (an initial empty response included). */
  onChange(change: XdsChange<T>): void;
}

/**
 * Types one subscription (decode's result flows into onChange) for the heterogeneous `types` list, which holds them
 * as XdsTypeSubscription<unknown>.
 */
export function xdsType<T>(sub: XdsTypeSubscription<T>): XdsTypeSubscription<unknown> {
  return sub;
}

export interface XdsClientTls {
  /** PEM of the mesh root(s) that signed the server certificate. */
  readonly ca: string | Buffer;
  /** Client certificate and key, when the server asks for one. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Name to verify in the server certificate instead of the target host (e.g. `istiod.istio-system.svc`). */
  readonly servername?: string;
}

export interface XdsClientOptions {
  /** `unix:/path/to.sock` or `host:port`. */
  readonly target: string;
  /** Absent: plaintext (unix sockets only, in practice). */
  readonly tls?: XdsClientTls;
  readonly node: { readonly id: string; readonly metadata?: Readonly<Record<string, string>> };
  readonly types: ReadonlyArray<XdsTypeSubscription<unknown>>;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Reconnect schedule; default core's (100 ms doubling to 10 s, equal jitter, so a fleet that lost the controller at once does not come back in lock-step). */
  readonly backoff?: BackoffOptions;
  /** Headers for each new stream, e.g. `authorization: Bearer <token>`; called per attempt so tokens can rotate. */
  readonly callMetadata?: () => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>;
}

export interface XdsClientStats {
  readonly streams: number;
  readonly responses: number;
  readonly acks: number;
  readonly nacks: number;
}

export interface XdsClient {
  /** The last good state of a type: name -> decoded value. Empty for a type never received. */
  state<T = unknown>(typeUrl: string): ReadonlyMap<string, T>;
  /** name -> version of the resources in `state`. */
  versions(typeUrl: string): ReadonlyMap<string, string>;
  /** True while the current stream is up and has delivered at least one response. */
  connected(): boolean;
  stats(): XdsClientStats;
  /** Ends the stream and stops reconnecting; the state stays readable. */
  close(): void;
}

interface TypeState {
  readonly sub: XdsTypeSubscription<unknown>;
  readonly values: Map<string, unknown>;
  readonly versions: Map<string, string>;
}

interface Stream {
  readonly id: number;
  readonly channel: grpc.Client;
  readonly call: grpc.ClientDuplexStream<DeltaDiscoveryRequestWire, DeltaDiscoveryResponseWire>;
  receivedResponse: boolean;
  ended: boolean;
}

/** Longest wait between connect attempts before the controller has answered once, ms. */
const FIRST_CONNECT_MAX_MS = 1000;

export function createXdsClient(options: XdsClientOptions): XdsClient {
  const clock = options.clock ?? systemClock;
  const backoff = createBackoff(options.backoff);
  // Until the first answer ever, the controller is most likely still starting (a node coming up with the cluster):
  // waiting out a grown backoff then leaves a proxy without config seconds after its controller is up. A failed
  // connect to a controller that is not there costs little, so those retries stay at most FIRST_CONNECT_MAX_MS apart.
  let everConnected = false;
  const log = options.log.child({ component: 'xds-client', node: options.node.id });
  const types = new Map<string, TypeState>();
  for (const sub of options.types) {
    if (types.has(sub.typeUrl)) throw new TypeError(`type ${sub.typeUrl} is subscribed twice`);
    if (sub.names !== undefined && sub.names.length === 0) {
      // An empty first subscribe means wildcard in delta xDS: refuse rather than silently subscribe to everything.
      throw new TypeError(`type ${sub.typeUrl}: names must be non-empty (leave it out for a wildcard subscription)`);
    }
    types.set(sub.typeUrl, { sub, values: new Map(), versions: new Map() });
  }
  const credentials = options.tls
    ? grpc.credentials.createSsl(
        toBuffer(options.tls.ca),
        options.tls.key === undefined ? null : toBuffer(options.tls.key),
        options.tls.cert === undefined ? null : toBuffer(options.tls.cert),
      )
    : grpc.credentials.createInsecure();
  const channelOptions = clientChannelOptions(options.tls?.servername);

  let closed = false;
  let current: Stream | undefined;
  let retryTimer: ClockTimer | undefined;
  let failedAttempts = 0;
  let streamSeq = 0;
  const stats = { streams: 0, responses: 0, acks: 0, nacks: 0 };

  function connect(): void {
    retryTimer = undefined;
    if (closed) return;
    const metadataPromise = Promise.resolve()
      .then(() => options.callMetadata?.() ?? {})
      .then((headers) => {
        if (closed) return;
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(headers)) md.set(k, v);
        openStream(md);
      });
    metadataPromise.catch((err: unknown) => {
      log.warn({ err: errorMessage(err) }, 'xds: cannot build stream metadata');
      scheduleReconnect();
    });
  }

  function openStream(md: grpc.Metadata): void {
    // A fresh channel per attempt: grpc-js channels keep their own reconnect backoff (up to 120 s), which would
    // override ours after a server restart.
    const channel = new grpc.Client(options.target, credentials, channelOptions);
    const call = channel.makeBidiStreamRequest(DELTA_AGGREGATED_RESOURCES_PATH, encodeDeltaRequest, decodeDeltaResponse, md);
    const stream: Stream = { id: ++streamSeq, channel, call, receivedResponse: false, ended: false };
    current = stream;
    stats.streams++;
    call.on('data', (res: DeltaDiscoveryResponseWire) => onResponse(stream, res));
    call.on('error', (err: grpc.ServiceError) => onStreamEnd(stream, err));
    call.on('status', (status: grpc.StatusObject) => onStreamEnd(stream, status));
    call.on('end', () => onStreamEnd(stream, undefined));
    let first = true;
    for (const t of types.values()) {
      const req: DeltaDiscoveryRequestWire = {
        // Envoy requires the node on the first request of a stream only.
        ...(first ? { node: nodeWire() } : {}),
        typeUrl: t.sub.typeUrl,
        resourceNamesSubscribe: t.sub.names ?? [WILDCARD],
        initialResourceVersions: Object.fromEntries(t.versions),
      };
      first = false;
      call.write(req);
    }
    log.debug({ stream: stream.id, resume: [...types.values()].map((t) => t.versions.size) }, 'xds: stream opened');
  }

  function nodeWire(): NonNullable<DeltaDiscoveryRequestWire['node']> {
    const md = options.node.metadata;
    return { id: options.node.id, ...(md ? { metadata: toStruct(md) } : {}) };
  }

  function onResponse(stream: Stream, res: DeltaDiscoveryResponseWire): void {
    if (stream !== current || stream.ended) return;
    stats.responses++;
    if (!stream.receivedResponse) {
      stream.receivedResponse = true;
      everConnected = true;
      // A server that answers is healthy: the next failure starts the backoff from the beginning again.
      failedAttempts = 0;
      log.info({ stream: stream.id }, 'xds: connected');
    }
    const t = types.get(res.typeUrl);
    if (!t) {
      nack(stream, res, `type ${res.typeUrl} was not subscribed`);
      return;
    }
    const upserted = new Map<string, unknown>();
    const versions = new Map<string, string>();
    for (const r of res.resources) {
      const what = `resource ${JSON.stringify(r.name)}`;
      const body = r.resource;
      if (!body || body.type_url !== res.typeUrl) {
        nack(stream, res, `${what}: ${body ? `the body is a ${body.type_url}, not a ${res.typeUrl}` : 'the resource body is missing'}`);
        return;
      }
      try {
        upserted.set(r.name, t.sub.decode(r.name, body.value));
        versions.set(r.name, r.version);
      } catch (err) {
        nack(stream, res, `${what}: ${errorMessage(err)}`);
        return;
      }
    }
    for (const [name, value] of upserted) {
      t.values.set(name, value);
      t.versions.set(name, versions.get(name) ?? '');
    }
    const removed: string[] = [];
    for (const name of res.removedResources) {
      // A name in both lists of one response would be contradictory; the upsert wins, as it does in Envoy.
      if (upserted.has(name)) continue;
      t.versions.delete(name);
      if (t.values.delete(name)) removed.push(name);
    }
    try {
      t.sub.onChange({ upserted, removed });
    } catch (err) {
      // The state is applied and consistent; a consumer bug is not the server's fault, so this is still an ACK.
      log.error({ err: errorMessage(err), typeUrl: res.typeUrl }, 'xds: onChange threw');
    }
    stats.acks++;
    stream.call.write({ typeUrl: res.typeUrl, responseNonce: res.nonce });
  }

  function nack(stream: Stream, res: DeltaDiscoveryResponseWire, message: string): void {
    stats.nacks++;
    log.warn({ typeUrl: res.typeUrl, nonce: res.nonce, error: message }, 'xds: rejecting response (NACK)');
    stream.call.write({
      typeUrl: res.typeUrl,
      responseNonce: res.nonce,
      errorDetail: { code: RPC_INVALID_ARGUMENT, message },
    });
  }

  function onStreamEnd(stream: Stream, why: grpc.StatusObject | Error | undefined): void {
    if (stream.ended) return;
    stream.ended = true;
    stream.call.removeAllListeners('data');
    // Late 'error'/'status' events must still find a listener: an unhandled 'error' would crash the process.
    stream.call.on('error', () => {});
    stream.channel.close();
    if (stream !== current) return;
    current = undefined;
    if (closed) return;
    const detail =
      why === undefined ? 'stream ended' : 'code' in why ? `${grpc.status[why.code] ?? why.code}: ${why.details}` : why.message;
    log.warn({ stream: stream.id, detail }, 'xds: stream lost; serving the last good state until reconnected');
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (closed || retryTimer !== undefined) return;
    const grown = backoff.delayMs(++failedAttempts);
    const delayMs = everConnected ? grown : Math.min(grown, FIRST_CONNECT_MAX_MS);
    log.debug({ delayMs }, 'xds: reconnecting');
    retryTimer = clock.setTimeout(connect, delayMs);
  }

  connect();

  return {
    state<T>(typeUrl: string): ReadonlyMap<string, T> {
      // The caller names the T its decode() produces for this type; the map holds exactly what decode returned.
      return (types.get(typeUrl)?.values ?? new Map()) as ReadonlyMap<string, T>;
    },
    versions: (typeUrl) => types.get(typeUrl)?.versions ?? new Map<string, string>(),
    connected: () => current?.receivedResponse === true && !current.ended,
    stats: () => ({ ...stats }),
    close() {
      if (closed) return;
      closed = true;
      if (retryTimer !== undefined) clock.clearTimeout(retryTimer);
      retryTimer = undefined;
      const stream = current;
      current = undefined;
      if (stream) {
        stream.call.cancel();
        onStreamEnd(stream, undefined);
      }
    },
  };
}

function toBuffer(x: string | Buffer): Buffer {
  return typeof x === 'string' ? Buffer.from(x) : x;
}
