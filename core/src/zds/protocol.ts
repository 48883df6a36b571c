/**
 * The node agent ↔ ztunnel protocol ("ZDS", after Istio's `zds.proto`): how the agent tells its node's ztunnel which
 * pods are captured and where their network namespaces are. Istio passes the netns as a file descriptor over
 * SCM_RIGHTS; Node cannot send descriptors over a net socket, so Ambit passes the namespace's path (`/run/netns/NAME`
 * or `/proc/PID/ns/net`), which ztunnel opens and holds at once.
 *
 * Transport: a unix stream socket served by the agent; ztunnel connects (and reconnects). Each message is one JSON
 * object on one line (`\n`-terminated), at most ZDS_MAX_LINE_BYTES. Flow:
 * 1. ztunnel → agent: `hello`.
 * 2. agent → ztunnel: an `add` for every pod it has captured, then `snapshot-sent`. ztunnel drops pods it holds that
 *    were not in the snapshot (they left while it was away), then acks.
 * 3. Afterwards: `add` (a pod captured, or its details changed) and `del` (released) as they happen.
 * ztunnel answers every `add`, `del` and `snapshot-sent` with an `ack` carrying the same `id`, once the change is in
 * force (for `add`: listeners up in the pod's namespace), or with `error` when it could not be made.
 */

import { AmbitError } from '../errors.ts';
import { isRecord } from '../fields/is-record.ts';

export const ZDS_VERSION = 1;
export const ZDS_MAX_LINE_BYTES = 64 * 1024;

/** What ztunnel needs to serve one captured pod. */
export interface ZdsPod {
  /** Kubernetes `metadata.uid`. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Path of the pod's network namespace. */
  readonly netns: string;
  /** The pod's IPs (no prefix length). */
  readonly ips: readonly string[];
}

export type ZdsAgentMessage =
  | { readonly type: 'add'; readonly id: number; readonly pod: ZdsPod }
  | { readonly type: 'del'; readonly id: number; readonly uid: string }
  | { readonly type: 'snapshot-sent'; readonly id: number };

export type ZdsZtunnelMessage =
  | { readonly type: 'hello'; readonly version: number; readonly node: string }
  | { readonly type: 'ack'; readonly id: number; readonly error?: string };

/** A ZDS message that breaks the protocol (not JSON, too long, a field missing or of the wrong type). */
export class ZdsProtocolError extends AmbitError {
  constructor(message: string) {
    super('ZDS_PROTOCOL_VIOLATION', message);
  }
}

function record(line: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new ZdsProtocolError(`ZDS message is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(v)) throw new ZdsProtocolError('ZDS message is not a JSON object');
  return v;
}

function str(o: Record<string, unknown>, field: string, what: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v === '') throw new ZdsProtocolError(`${what}: field ${field} must be a non-empty string`);
  return v;
}

function id(o: Record<string, unknown>, what: string): number {
  const v = o['id'];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new ZdsProtocolError(`${what}: field id must be a non-negative integer`);
  return v;
}

export function parseZdsPod(v: unknown, what = 'pod'): ZdsPod {
  if (!isRecord(v)) throw new ZdsProtocolError(`${what} must be an object`);
  const o = v;
  const ips = o['ips'];
  if (!Array.isArray(ips) || ips.some((ip) => typeof ip !== 'string'))
    throw new ZdsProtocolError(`${what}: field ips must be a list of strings`);
  return {
    uid: str(o, 'uid', what),
    name: str(o, 'name', what),
    namespace: str(o, 'namespace', what),
    serviceAccount: str(o, 'serviceAccount', what),
    netns: str(o, 'netns', what),
    ips: ips as string[],
  };
}

/** Parses a line the agent sent; throws ZdsProtocolError naming the field. */
export function parseAgentMessage(line: string): ZdsAgentMessage {
  const o = record(line);
  switch (o['type']) {
    case 'add':
      return { type: 'add', id: id(o, 'add'), pod: parseZdsPod(o['pod'], 'add.pod') };
    case 'del':
      return { type: 'del', id: id(o, 'del'), uid: str(o, 'uid', 'del') };
    case 'snapshot-sent':
      return { type: 'snapshot-sent', id: id(o, 'snapshot-sent') };
    default:
      throw new ZdsProtocolError(`unknown ZDS message type ${JSON.stringify(o['type'])}`);
  }
}

/** Parses a line ztunnel sent; throws ZdsProtocolError naming the field. */
export function parseZtunnelMessage(line: string): ZdsZtunnelMessage {
  const o = record(line);
  switch (o['type']) {
    case 'hello': {
      const version = o['version'];
      if (typeof version !== 'number') throw new ZdsProtocolError('hello: field version must be a number');
      return { type: 'hello', version, node: str(o, 'node', 'hello') };
    }
    case 'ack': {
      const error = o['error'];
      if (error !== undefined && typeof error !== 'string') throw new ZdsProtocolError('ack: field error must be a string');
      return error === undefined ? { type: 'ack', id: id(o, 'ack') } : { type: 'ack', id: id(o, 'ack'), error };
    }
    default:
      throw new ZdsProtocolError(`unknown ZDS message type ${JSON.stringify(o['type'])}`);
  }
}

/**
 * Splits a byte stream into lines and hands each to `onLine`; a line longer than ZDS_MAX_LINE_BYTES calls `onError`
 * (the caller closes the connection: the peer is broken).
 */
export function lineReader(onLine: (line: string) => void, onError: (err: ZdsProtocolError) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('utf8');
    for (;;) {
      const nl = pending.indexOf('\n');
      if (nl < 0) break;
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() !== '') onLine(line);
    }
    if (pending.length > ZDS_MAX_LINE_BYTES) {
      pending = '';
      onError(new ZdsProtocolError(`ZDS line longer than ${ZDS_MAX_LINE_BYTES} bytes`));
    }
  };
}

export function encodeZds(msg: ZdsAgentMessage | ZdsZtunnelMessage): string {
  return `${JSON.stringify(msg)}\n`;
}
