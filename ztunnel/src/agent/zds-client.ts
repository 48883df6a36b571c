import { connect, type Socket } from 'node:net';
import type { Logger } from '@ambit/core';
import { createBackoff, errorMessage } from '@ambit/core';
import { encodeZds, lineReader, parseAgentMessage, ZDS_VERSION, type ZdsAgentMessage, type ZdsPod } from '@ambit/core/zds';

export interface ZdsHandlers {
  add(pod: ZdsPod): Promise<void>;
  del(uid: string): Promise<void>;
  /** The agent finished replaying: `uids` is every pod it holds. */
  snapshot(uids: ReadonlySet<string>): Promise<void>;
}

export interface ZdsClient {
  /** True after the agent's snapshot arrived on the current connection. */
  synced(): boolean;
  connected(): boolean;
  close(): void;
}

/**
 * ztunnel's side of the node agent link (core/src/zds/protocol.ts): connects to the agent's unix socket, says hello,
 * applies the agent's adds/deletes through `handlers` one message at a time, and acks each. Reconnects forever with
 * backoff; the pods already served keep working while the agent is away (it only adds and removes).
 */
export function startZdsClient(options: { socketPath: string; node: string; handlers: ZdsHandlers; log: Logger }): ZdsClient {
  const log = options.log.child({ component: 'zds' });
  let sock: Socket | undefined;
  let closed = false;
  let isSynced = false;
  let isConnected = false;
  // The agent is on the same node and serves this ztunnel alone: nothing to spread, so no jitter.
  const backoff = createBackoff({ initialMs: 100, maxMs: 2000, jitter: 'none' });
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;

  function open(): void {
    if (closed) return;
    const s = connect(options.socketPath);
    sock = s;
    let seen = new Set<string>();
    // Messages are applied in order: an add then del of one pod must not swap.
    let queue = Promise.resolve();
    const send = (text: string): void => {
      if (!s.destroyed) s.write(text);
    };
    const apply = async (msg: ZdsAgentMessage): Promise<void> => {
      try {
        if (msg.type === 'add') {
          seen.add(msg.pod.uid);
          await options.handlers.add(msg.pod);
        } else if (msg.type === 'del') {
          seen.delete(msg.uid);
          await options.handlers.del(msg.uid);
        } else {
          await options.handlers.snapshot(seen);
          seen = new Set();
          isSynced = true;
          log.info('node agent snapshot applied');
        }
        send(encodeZds({ type: 'ack', id: msg.id }));
      } catch (err) {
        log.warn({ msg: msg.type, err: errorMessage(err) }, 'agent request failed');
        send(encodeZds({ type: 'ack', id: msg.id, error: errorMessage(err) }));
      }
    };
    const onData = lineReader(
      (line) => {
        let msg: ZdsAgentMessage;
        try {
          msg = parseAgentMessage(line);
        } catch (err) {
          log.warn({ err: errorMessage(err) }, 'bad message from the node agent; reconnecting');
          s.destroy();
          return;
        }
        queue = queue.then(() => apply(msg));
      },
      (err) => {
        log.warn({ err: err.message }, 'bad stream from the node agent; reconnecting');
        s.destroy();
      },
    );
    s.on('connect', () => {
      isConnected = true;
      failures = 0;
      log.info({ socket: options.socketPath }, 'connected to the node agent');
      send(encodeZds({ type: 'hello', version: ZDS_VERSION, node: options.node }));
    });
    s.on('data', onData);
    s.on('error', (err) => log.debug({ err: err.message }, 'node agent connection error'));
    s.on('close', () => {
      if (isConnected) log.warn('node agent connection lost; pods keep being served');
      isConnected = false;
      isSynced = false;
      if (closed) return;
      retry = setTimeout(open, backoff.delayMs(++failures));
    });
  }

  open();
  return {
    synced: () => isSynced,
    connected: () => isConnected,
    close() {
      closed = true;
      clearTimeout(retry);
      sock?.destroy();
    },
  };
}
