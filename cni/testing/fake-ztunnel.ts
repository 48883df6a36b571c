// Test support: a stand-in ztunnel speaking ZDS (`@ambit/core/zds`) to the agent's socket: it says hello, records
// every message, and answers each as the test's `reply` says (ack, ack with an error, or silence).
import { connect, type Socket } from 'node:net';
import { eventually } from '@ambit/core/testing';
import { encodeZds, lineReader, parseAgentMessage, ZDS_VERSION, type ZdsAgentMessage } from '@ambit/core/zds';

/** `'ack'` acks, a string acks with that error, `'silent'` never answers. */
export type ZtunnelReply = 'ack' | 'silent' | { readonly error: string };

export interface FakeZtunnel {
  /** Messages received on this connection, in order. */
  readonly messages: ZdsAgentMessage[];
  reply: (msg: ZdsAgentMessage) => ZtunnelReply;
  /** Whether the agent has closed the connection. */
  closed(): boolean;
  /** Resolves once the agent has sent a message matching `pred`; returns it. */
  waitFor(pred: (msg: ZdsAgentMessage) => boolean, timeoutMs?: number): Promise<ZdsAgentMessage>;
  close(): Promise<void>;
}

export interface FakeZtunnelOptions {
  readonly node?: string;
  readonly version?: number;
  readonly reply?: (msg: ZdsAgentMessage) => ZtunnelReply;
  /** Send no hello (a stray connection). */
  readonly noHello?: boolean;
}

export async function connectFakeZtunnel(socketPath: string, opts: FakeZtunnelOptions = {}): Promise<FakeZtunnel> {
  const messages: ZdsAgentMessage[] = [];
  let isClosed = false;
  const socket: Socket = connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const closedP = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closedP.then(() => (isClosed = true));
  const zt: FakeZtunnel = {
    messages,
    reply: opts.reply ?? (() => 'ack'),
    closed: () => isClosed,
    async waitFor(pred, timeoutMs = 5000) {
      return eventually(() => {
        const found = messages.find(pred);
        if (found === undefined) throw new Error(`no matching ZDS message; got ${JSON.stringify(messages)}`);
        return found;
      }, timeoutMs);
    },
    async close() {
      socket.end();
      socket.destroy();
      await closedP;
    },
  };
  socket.on(
    'data',
    lineReader(
      (line) => {
        const msg = parseAgentMessage(line);
        messages.push(msg);
        const answer = zt.reply(msg);
        if (answer === 'silent') return;
        socket.write(encodeZds(answer === 'ack' ? { type: 'ack', id: msg.id } : { type: 'ack', id: msg.id, error: answer.error }));
      },
      () => socket.destroy(),
    ),
  );
  if (opts.noHello !== true) socket.write(encodeZds({ type: 'hello', version: opts.version ?? ZDS_VERSION, node: opts.node ?? 'node1' }));
  return zt;
}

/** The message types in order, with the pod or uid each names: easy to compare in assertions. */
export function summary(messages: readonly ZdsAgentMessage[]): string[] {
  return messages.map((m) => (m.type === 'add' ? `add ${m.pod.namespace}/${m.pod.name}` : m.type === 'del' ? `del ${m.uid}` : m.type));
}
