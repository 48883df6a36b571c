import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import type { ObjectStore } from '../store/object-store.ts';

/**
 * `GET …/pods/<name>/log` from the files the local kubelet appends each container's stdout and stderr to
 * (`<logDir>/<namespace>/<pod>/<container>.log`, see cluster/kubelet.ts), with kube-apiserver's parameters:
 * `container` (needed when the pod has several), `tailLines`, `limitBytes`, `follow` (stream new output until the
 * pod goes or the client hangs up). `previous` and `timestamps` are accepted and ignored: one file holds every
 * restart's output, and no timestamps are kept.
 */

export interface PodLogOptions {
  readonly store: ObjectStore;
  readonly logDir: string;
  /** How often a follow checks for new output and for the pod's end; default 200 ms. */
  readonly followPollMs?: number;
  /** Ends followers on server close; returns the forget function. */
  readonly trackStream: (end: () => void) => () => void;
}

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw ApiError.badRequest(`${name} must be a non-negative integer, not ${JSON.stringify(v)}`);
  return n;
}

function containerName(pod: KubeObject, url: URL): string {
  const names = (Array.isArray(asRecord(pod['spec'])['containers']) ? (asRecord(pod['spec'])['containers'] as unknown[]) : [])
    .filter(isRecord)
    .map((c) => String(c['name']));
  const asked = url.searchParams.get('container');
  const podName = pod.metadata.name;
  if (asked !== null && asked !== '') {
    if (!names.includes(asked)) throw ApiError.badRequest(`container ${asked} is not valid for pod ${podName}`);
    return asked;
  }
  if (names.length === 1 && names[0] !== undefined) return names[0];
  throw ApiError.badRequest(`a container name must be specified for pod ${podName}, choose one of: [${names.join(' ')}]`);
}

/** Offset where the last `lines` lines of the first `size` bytes begin (reads backwards in chunks). */
function tailOffset(fd: number, size: number, lines: number): number {
  if (lines === 0) return size;
  let seen = 0;
  let pos = size;
  const chunk = Buffer.alloc(64 * 1024);
  // A final newline ends the last line; it does not start another one.
  let skipFinal = true;
  while (pos > 0) {
    const len = Math.min(chunk.length, pos);
    pos -= len;
    readSync(fd, chunk, 0, len, pos);
    for (let i = len - 1; i >= 0; i--) {
      if (chunk[i] !== 0x0a) {
        skipFinal = false;
        continue;
      }
      if (skipFinal) {
        skipFinal = false;
        continue;
      }
      if (++seen === lines) return pos + i + 1;
    }
  }
  return 0;
}

function readRange(fd: number, from: number, to: number): Buffer {
  const buf = Buffer.alloc(to - from);
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, from + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

export async function servePodLog(opts: PodLogOptions, pod: KubeObject, url: URL, res: ServerResponse): Promise<void> {
  const container = containerName(pod, url);
  const ns = pod.metadata.namespace ?? 'default';
  const name = pod.metadata.name ?? '';
  const file = join(opts.logDir, ns, name, `${container}.log`);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw ApiError.badRequest(`container "${container}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`);
  }
  const uid = pod.metadata.uid;
  const follow = url.searchParams.get('follow') === 'true' || url.searchParams.get('follow') === '1';
  const limitBytes = intParam(url, 'limitBytes');
  try {
    const size = fstatSync(fd).size;
    const tail = intParam(url, 'tailLines');
    let offset = tail === undefined ? 0 : tailOffset(fd, size, tail);
    let sent = 0;
    const send = (to: number): boolean => {
      let data = readRange(fd, offset, to);
      offset += data.length;
      if (limitBytes !== undefined && sent + data.length > limitBytes) data = data.subarray(0, limitBytes - sent);
      sent += data.length;
      if (data.length > 0) res.write(data);
      return limitBytes !== undefined && sent >= limitBytes;
    };
    res.writeHead(200, { 'Content-Type': 'text/plain', ...(follow ? { 'Transfer-Encoding': 'chunked' } : {}) });
    if (send(size) || !follow) {
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const podType = opts.store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearInterval(timer);
        forget();
        res.end();
        resolve();
      };
      const timer = setInterval(() => {
        const now = opts.store.find(podType, ns, name);
        let grown: number | undefined;
        try {
          grown = statSync(file).size;
        } catch {
          grown = undefined;
        }
        // A restarted container appends; a shrunken file was truncated: start over from its beginning.
        if (grown !== undefined && grown < offset) offset = 0;
        if (grown !== undefined && grown > offset && send(grown)) return finish();
        if (now === undefined || now.metadata.uid !== uid || grown === undefined) finish();
      }, opts.followPollMs ?? 200);
      const forget = opts.trackStream(finish);
      res.on('close', finish);
    });
  } finally {
    closeSync(fd);
  }
}
