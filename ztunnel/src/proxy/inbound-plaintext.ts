import type { Socket } from 'node:net';
import { errorMessage } from '@ambit/core';
import { formatHostPort, unmapIp } from '@ambit/core/hbone';
import { connectFromNetns, getOriginalDst, socketFdOf } from '../native/index.ts';
import { authorizeInbound } from '../policy/inbound-authz.ts';
import type { ConnectionLabelsInput } from '@ambit/core/telemetry';
import { logAccess } from '../telemetry/index.ts';
import { originalSource } from './original-source.ts';
import { pipeSockets } from './pipe-sockets.ts';
import { INPOD_MARK, ZTUNNEL_PORTS } from './ports.ts';
import type { ProxyInputs } from './proxy-inputs.ts';

export interface InboundPlaintextTarget {
  readonly netnsFd: number;
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly ips: readonly string[];
}

/**
 * A plaintext connection from outside the mesh that the pod's rules redirected to 15006 (DESIGN §3 "Inbound"): it
 * carries no identity, so the pod's authorizations are evaluated without one — PeerAuthentication STRICT arrives here
 * as a DENY of every request without a principal — then it is connected to the app inside the pod. A refusal is a
 * reset, as ztunnel does (there is no protocol to say why). Reported as `reporter="destination"`.
 */
export function handleInboundPlaintext(client: Socket, pod: InboundPlaintextTarget, inputs: ProxyInputs): void {
  const started = performance.now();
  const { telemetry, state, live, log } = inputs;
  client.on('error', () => {});
  const srcIp = unmapIp(client.remoteAddress ?? '');
  const src = formatHostPort(srcIp, client.remotePort ?? 0);
  let orig: { address: string; port: number };
  try {
    const o = getOriginalDst(socketFdOf(client));
    orig = { address: unmapIp(o.address), port: o.port };
  } catch (err) {
    log.warn({ pod: `${pod.namespace}/${pod.name}`, err: errorMessage(err) }, 'inbound connection without an original destination');
    telemetry.health.error('no_original_dst');
    client.resetAndDestroy();
    return;
  }
  const dst = formatHostPort(orig.address, orig.port);
  const srcWorkload = state.workloadByIp(srcIp);
  const workload = state.workloadByIp(orig.address);
  const access = (sent: number, recv: number, error: string | undefined): void =>
    logAccess(telemetry.access, {
      direction: 'inbound',
      srcAddr: src,
      srcWorkload,
      srcIdentity: undefined,
      dstAddr: dst,
      hboneAddr: undefined,
      dstService: undefined,
      dstWorkload: workload,
      bytesSent: sent,
      bytesRecv: recv,
      durationMs: performance.now() - started,
      error,
    });
  if (ZTUNNEL_PORTS.includes(orig.port)) {
    client.resetAndDestroy();
    telemetry.health.error('loop');
    access(0, 0, 'loop to a ztunnel port');
    return;
  }
  // A pod the controller has not published yet has no policy we know of: Istio's ztunnel refuses such connections
  // too (no workload, no decision), which is the fail-closed choice for STRICT namespaces.
  if (workload === undefined) {
    client.resetAndDestroy();
    telemetry.health.error('unknown_destination');
    access(0, 0, 'destination workload not known yet');
    return;
  }
  const labels: ConnectionLabelsInput = {
    reporter: 'destination',
    source: srcWorkload,
    sourcePrincipal: undefined,
    destination: workload,
    service: undefined,
    mtls: false,
  };
  const facts = { sourceIdentity: undefined, sourceIp: srcIp, destinationIp: orig.address, destinationPort: orig.port };
  const decision = authorizeInbound(state, workload, facts, log);
  if (!decision.allow) {
    client.resetAndDestroy();
    telemetry.metrics.refused(labels, 'DENY');
    access(0, 0, decision.reason);
    return;
  }
  connectFromNetns(pod.netnsFd, { host: orig.address, port: orig.port, mark: INPOD_MARK, ...originalSource(srcIp, orig.address) }).then(
    (upstream) => {
      const m = telemetry.metrics.open(labels);
      if (client.destroyed) {
        upstream.destroy();
        m.close('CONNECT');
        access(0, 0, 'client went away');
        return;
      }
      const untrack = live.add({
        workloadUid: workload.uid,
        facts,
        close: () => {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        },
      });
      const bytes = pipeSockets(client, upstream, (r) => {
        untrack();
        m.close();
        access(r.bytesBtoA, r.bytesAtoB, r.error?.message);
      });
      m.follow(bytes.bToA, bytes.aToB);
    },
    (err: unknown) => {
      client.resetAndDestroy();
      telemetry.health.error('upstream_connect');
      telemetry.metrics.refused(labels, 'CONNECT');
      access(0, 0, errorMessage(err));
    },
  );
}
