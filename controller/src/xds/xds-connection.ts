/**
 * One proxy's delta-xDS stream, as the server sees it: per-type subscriptions, what was sent and ACKed, and the
 * push loop (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#incremental-xds).
 *
 * Invariants, per type:
 * - `sent` is what the client holds or was last sent (name -> version). Pushes are the difference between the store
 *   (within the subscription) and `sent`, so a NACKed version is never resent: it stays in `sent` until a newer
 *   publish changes the store.
 * - At most one response is in flight; the next is computed when it is ACKed or NACKed. A client that never ACKs
 *   stalls only itself, memory stays bounded (one response per type), and changes made meanwhile coalesce into the
 *   next response.
 * - `dirty` holds the names that may differ from `sent`; only those are examined on a push.
 */
import type { Logger } from 'pino';
import { WILDCARD, type DeltaDiscoveryRequestWire, type DeltaDiscoveryResponseWire, type ResourceWire } from '@ambit/core/xds';
import type { ResourceStore } from './resource-store.ts';
import { typeLabel, type XdsServerMetrics } from './xds-metrics.ts';

export interface ConnectionLimits {
  readonly maxResourcesPerResponse: number;
  readonly maxResponseBytes: number;
}

export interface ConnectionTypeInfo {
  /** Nonce of the last ACKed response ('' before the first ACK). */
  readonly ackedNonce: string;
  /** How many resources the client has ACKed (or declared it held, on resume). */
  readonly ackedVersions: number;
  /** The error_detail message of the last NACK, if the client ever NACKed this type on this stream. */
  readonly lastNack?: string;
  /** Resources changed but not yet ACKed: waiting to be sent, plus those in the response in flight. */
  readonly pending: number;
}

export interface ConnectionInfo {
  readonly nodeId: string;
  readonly connectedAt: Date;
  readonly peer: string;
  readonly types: Readonly<Record<string, ConnectionTypeInfo>>;
}

interface InFlight {
  readonly nonce: string;
  readonly upserted: ReadonlyMap<string, string>;
  readonly removed: readonly string[];
  /** Earliest publish() this response carries; undefined for pure (re)subscription responses. */
  readonly publishedAt: number | undefined;
}

interface Subscription {
  readonly typeUrl: string;
  wildcard: boolean;
  readonly names: Set<string>;
  readonly sent: Map<string, string>;
  readonly acked: Map<string, string>;
  readonly dirty: Set<string>;
  /** A new subscription is answered even when there is nothing to send: ztunnel waits for it to become ready. */
  needsResponse: boolean;
  inFlight: InFlight | undefined;
  dirtySince: number | undefined;
  ackedNonce: string;
  lastNack: string | undefined;
}

export interface ConnectionDeps {
  readonly store: ResourceStore;
  readonly metrics: XdsServerMetrics;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  readonly now: () => number;
  /** Writes a response on the stream. */
  readonly write: (res: DeltaDiscoveryResponseWire) => void;
  /** A nonce unique across the server's connections and restarts. */
  readonly nextNonce: () => string;
}

export class XdsConnection {
  readonly connectedAt: Date;
  nodeId = '';
  private readonly subs = new Map<string, Subscription>();
  private closed = false;

  constructor(
    private readonly deps: ConnectionDeps,
    readonly peer: string,
  ) {
    this.connectedAt = new Date(deps.now());
  }

  /** Applies one request (subscription change and/or ACK/NACK), then pushes what became due. */
  handleRequest(req: DeltaDiscoveryRequestWire): void {
    const typeUrl = req.typeUrl;
    let sub = this.subs.get(typeUrl);
    const subscribe = req.resourceNamesSubscribe ?? [];
    if (!sub) {
      sub = this.subscribe(typeUrl, subscribe, req.initialResourceVersions ?? {});
    } else {
      this.changeSubscription(sub, subscribe, req.resourceNamesUnsubscribe ?? []);
    }
    const nonce = req.responseNonce ?? '';
    if (nonce !== '') this.answer(sub, nonce, req.errorDetail?.message, req.errorDetail !== null && req.errorDetail !== undefined);
    this.push(sub);
  }

  /** Marks names changed by a publish; `publishedAt` feeds the convergence histogram. */
  markChanged(typeUrl: string, names: Iterable<string>, publishedAt: number): void {
    const sub = this.subs.get(typeUrl);
    if (!sub) return;
    let any = false;
    for (const name of names) {
      if (sub.wildcard || sub.names.has(name) || sub.sent.has(name)) {
        sub.dirty.add(name);
        any = true;
      }
    }
    if (any && sub.dirtySince === undefined) sub.dirtySince = publishedAt;
    this.push(sub);
  }

  /** Whether a request for this type would open a new subscription (the server caps them per stream). */
  isNewType(typeUrl: string): boolean {
    return !this.subs.has(typeUrl);
  }

  get typeCount(): number {
    return this.subs.size;
  }

  info(): ConnectionInfo {
    const types: Record<string, ConnectionTypeInfo> = {};
    for (const s of this.subs.values()) {
      const inFlight = s.inFlight ? s.inFlight.upserted.size + s.inFlight.removed.length : 0;
      types[s.typeUrl] = {
        ackedNonce: s.ackedNonce,
        ackedVersions: s.acked.size,
        ...(s.lastNack === undefined ? {} : { lastNack: s.lastNack }),
        pending: s.dirty.size + inFlight,
      };
    }
    return { nodeId: this.nodeId, connectedAt: this.connectedAt, peer: this.peer, types };
  }

  close(): void {
    this.closed = true;
  }

  private subscribe(typeUrl: string, names: readonly string[], initial: Readonly<Record<string, string>>): Subscription {
    // Delta xDS: "*" subscribes to everything; so does an empty first subscribe (the legacy wildcard ztunnel relies on).
    const sub: Subscription = {
      typeUrl,
      wildcard: names.length === 0 || names.includes(WILDCARD),
      names: new Set(names.filter((n) => n !== WILDCARD)),
      sent: new Map(),
      acked: new Map(),
      dirty: new Set(),
      needsResponse: true,
      inFlight: undefined,
      dirtySince: undefined,
      ackedNonce: '',
      lastNack: undefined,
    };
    // Resume: what the client says it holds counts as sent and ACKed, so only differences go out, and names it
    // holds that no longer exist come back as removed_resources.
    for (const [name, version] of Object.entries(initial)) {
      sub.sent.set(name, version);
      sub.acked.set(name, version);
      sub.dirty.add(name);
    }
    this.markAll(sub);
    this.subs.set(typeUrl, sub);
    this.deps.log.debug({ typeUrl, wildcard: sub.wildcard, names: sub.names.size, resume: sub.sent.size }, 'xds: subscribed');
    return sub;
  }

  private changeSubscription(sub: Subscription, subscribe: readonly string[], unsubscribe: readonly string[]): void {
    for (const name of unsubscribe) {
      if (name === WILDCARD) {
        sub.wildcard = false;
        // Envoy: the client drops what it no longer subscribes to; forget it so a re-subscribe sends it again.
        for (const n of [...sub.sent.keys()]) if (!sub.names.has(n)) this.forget(sub, n);
      } else {
        sub.names.delete(name);
        if (!sub.wildcard) this.forget(sub, name);
      }
    }
    for (const name of subscribe) {
      if (name === WILDCARD) {
        if (!sub.wildcard) {
          sub.wildcard = true;
          this.markAll(sub);
        }
      } else if (!sub.names.has(name)) {
        sub.names.add(name);
        sub.dirty.add(name);
      }
    }
    if (subscribe.length > 0) sub.needsResponse = true;
  }

  private forget(sub: Subscription, name: string): void {
    sub.sent.delete(name);
    sub.acked.delete(name);
    sub.dirty.delete(name);
  }

  private markAll(sub: Subscription): void {
    const names = sub.wildcard ? this.deps.store.names(sub.typeUrl) : sub.names;
    for (const n of names) sub.dirty.add(n);
  }

  private answer(sub: Subscription, nonce: string, errorMessage: string | undefined, isNack: boolean): void {
    const f = sub.inFlight;
    if (!f || f.nonce !== nonce) {
      // A stale nonce answers a response the server has already moved past (e.g. before a reconnect): ignore it.
      this.deps.log.debug({ typeUrl: sub.typeUrl, nonce }, 'xds: ignoring answer to an unknown nonce');
      return;
    }
    sub.inFlight = undefined;
    const type = typeLabel(sub.typeUrl, this.deps.store.has(sub.typeUrl));
    if (isNack) {
      sub.lastNack = errorMessage ?? '';
      this.deps.metrics.nacks.inc({ type });
      this.deps.log.warn({ typeUrl: sub.typeUrl, nonce, error: sub.lastNack }, 'xds: proxy rejected a response (NACK)');
      return;
    }
    for (const [name, version] of f.upserted) sub.acked.set(name, version);
    for (const name of f.removed) sub.acked.delete(name);
    sub.ackedNonce = nonce;
    if (f.publishedAt !== undefined) {
      this.deps.metrics.convergenceSeconds.observe({ type }, Math.max(0, this.deps.now() - f.publishedAt) / 1000);
    }
  }

  /** Sends the next response for a type if one is due and none is in flight. */
  private push(sub: Subscription): void {
    if (this.closed || sub.inFlight || this.nodeId === '') return;
    if (sub.dirty.size === 0 && !sub.needsResponse) return;
    const { store, limits } = this.deps;
    const resources: ResourceWire[] = [];
    const upserted = new Map<string, string>();
    const removed: string[] = [];
    let bytes = 0;
    for (const name of sub.dirty) {
      if (resources.length + removed.length >= limits.maxResourcesPerResponse) break;
      const inScope = sub.wildcard || sub.names.has(name);
      const res = inScope ? store.get(sub.typeUrl, name) : undefined;
      const have = sub.sent.get(name);
      if (res) {
        if (have !== res.version) {
          // Bound the bytes too, but always send at least one resource so an oversized one still goes out.
          if (resources.length > 0 && bytes + res.body.length > limits.maxResponseBytes) break;
          bytes += res.body.length;
          resources.push({ name, version: res.version, resource: { type_url: sub.typeUrl, value: res.body } });
          upserted.set(name, res.version);
        }
      } else if (have !== undefined) {
        removed.push(name);
      }
      sub.dirty.delete(name);
    }
    const publishedAt = sub.dirtySince;
    if (sub.dirty.size === 0) sub.dirtySince = undefined;
    if (resources.length === 0 && removed.length === 0 && !sub.needsResponse) return;
    sub.needsResponse = false;
    for (const [name, version] of upserted) sub.sent.set(name, version);
    for (const name of removed) sub.sent.delete(name);
    const nonce = this.deps.nextNonce();
    sub.inFlight = { nonce, upserted, removed, publishedAt };
    this.deps.metrics.pushes.inc({ type: typeLabel(sub.typeUrl, store.has(sub.typeUrl)) });
    this.deps.write({ typeUrl: sub.typeUrl, nonce, resources, removedResources: removed, systemVersionInfo: '' });
  }
}
