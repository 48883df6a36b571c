import type { Socket } from 'node:net';
import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import { formatHostPort, unmapIp } from '@ambit/core/hbone';
import { connectFromNetns, getOriginalDst, socketFdOf } from '../native/index.ts';
import { authorizeInbound } from '../policy/inbound-authz.ts';
import type { LiveConnections } from '../policy/live-connections.ts';
import type { MeshState } from '../state/mesh-state.ts';
import { originalSource } from './original-source.ts';
import { pipeSockets } from './pipe-sockets.ts';
import { INPOD_MARK, ZTUNNEL_PORTS } from './ports.ts';

export interface InboundPlaintextTarget {
  readonly netnsFd: number;
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly ips: readonly string[];
}

export interface InboundPlaintextRecord {
  readonly src: string;
  readonly dst: string;
  readonly allowed: boolean;
  readonly policy: string | undefined;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly durationMs: number;
  readonly error: string | undefined;
}

export interface InboundPlaintextDeps {
  readonly state: MeshState;
  readonly live: LiveConnections;
  readonly log: Logger;
  readonly onClose?: (record: InboundPlaintextRecord) => void;
}

/**
 * A plaintext connection from outside the mesh that the pod's rules redirected to 15006 (DESIGN §3 "Inbound"): it
 * carries no identity, so the pod's authorizations are evaluated without one — PeerAuthentication STRICT arrives here
 * as a DENY of every request without a principal — then it is connected to the app inside the pod. A refusal is a
 * reset, as ztunnel does (there is no protocol to say why).
 */
export function handleInboundPlaintext(client: Socket, pod: InboundPlaintextTarget, deps: InboundPlaintextDeps): void {
  const started = performance.now();
  client.on('error', () => {});
  const srcIp = unmapIp(client.remoteAddress ?? '');
  const src = formatHostPort(srcIp, client.remotePort ?? 0);
  let orig: { address: string; port: number };
  try {
    const o = getOriginalDst(socketFdOf(client));
    orig = { address: unmapIp(o.address), port: o.port };
  } catch (err) {
    deps.log.warn({ pod: `${pod.namespace}/${pod.name}`, err: errorMessage(err) }, 'inbound connection without an original destination');
    client.resetAndDestroy();
    return;
  }
  const dst = formatHostPort(orig.address, orig.port);
  const finish = (r: Omit<InboundPlaintextRecord, 'src' | 'dst' | 'durationMs'>): void =>
    deps.onClose?.({ src, dst, durationMs: performance.now() - started, ...r });
  if (ZTUNNEL_PORTS.includes(orig.port)) {
    client.resetAndDestroy();
    finish({ allowed: false, policy: undefined, bytesReceived: 0, bytesSent: 0, error: 'loop to a ztunnel port' });
    return;
  }
  const workload = deps.state.workloadByIp(orig.address);
  // A pod the controller has not published yet has no policy we know of: Istio's ztunnel refuses such connections
  // too (no workload, no decision), which is the fail-closed choice for STRICT namespaces.
  if (workload === undefined) {
    client.resetAndDestroy();
    deps.log.info({ pod: `${pod.namespace}/${pod.name}`, src, dst }, 'plaintext inbound refused: destination workload not known yet');
    finish({ allowed: false, policy: undefined, bytesReceived: 0, bytesSent: 0, error: 'unknown destination workload' });
    return;
  }
  const facts = { sourceIdentity: undefined, sourceIp: srcIp, destinationIp: orig.address, destinationPort: orig.port };
  const decision = authorizeInbound(deps.state, workload, facts, deps.log);
  if (!decision.allow) {
    client.resetAndDestroy();
    finish({ allowed: false, policy: decision.policy, bytesReceived: 0, bytesSent: 0, error: decision.reason });
    return;
  }
  connectFromNetns(pod.netnsFd, { host: orig.address, port: orig.port, mark: INPOD_MARK, ...originalSource(srcIp, orig.address) }).then(
    (upstream) => {
      if (client.destroyed) {
        upstream.destroy();
        finish({ allowed: true, policy: decision.policy, bytesReceived: 0, bytesSent: 0, error: 'client went away' });
        return;
      }
      const untrack = deps.live.add({
        workloadUid: workload.uid,
        facts,
        close: () => {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        },
      });
      pipeSockets(client, upstream, (r) => {
        untrack();
        finish({ allowed: true, policy: decision.policy, bytesReceived: r.bytesAtoB, bytesSent: r.bytesBtoA, error: r.error?.message });
      });
    },
    (err: unknown) => {
      client.resetAndDestroy();
      finish({ allowed: true, policy: decision.policy, bytesReceived: 0, bytesSent: 0, error: errorMessage(err) });
    },
  );
}
