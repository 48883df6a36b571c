import { isIPv4 } from 'node:net';
import { AmbitError } from '@ambit/core';
import { nft } from './exec.ts';
import { POD_BRIDGE } from './topology.ts';

/**
 * The local kube-proxy: ClusterIP services as nftables rules in a node's namespace, in the spirit of kube-proxy's
 * nftables mode (https://kubernetes.io/docs/reference/networking/virtual-ips/#proxy-mode-nftables).
 *
 * Packet paths, for one node:
 * - pod → ClusterIP: enters from cni0, `nat-prerouting` DNATs before routing, so no route to the ClusterIP is needed.
 * - node process → ClusterIP: `nat-output` DNATs (the node routes the service CIDR locally, see topology.ts).
 * - a service with no endpoints: `filter-*` chains reject before NAT is considered, as kube-proxy does, so clients
 *   fail at once instead of timing out.
 */

export interface ServiceEndpoint {
  readonly ip: string;
  readonly port: number;
}

export interface ServiceRule {
  readonly clusterIP: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly endpoints: readonly ServiceEndpoint[];
}

export const SERVICES_TABLE = 'ambit-services';

/**
 * Marks connections that arrive from the pod bridge for a service, so postrouting can masquerade the ones that go
 * back out on it (hairpin). Bit 14: clear of the 0x539 mark the proxies put on their own sockets.
 */
const HAIRPIN_MARK = 0x4000;

/**
 * Replaces the node's `ip ambit-services` table with rules for `services`, atomically: the script deletes and
 * recreates the table in one `nft -f` transaction, so no packet ever sees a half-updated table.
 */
export async function syncServiceRules(nodeNs: string, services: readonly ServiceRule[]): Promise<void> {
  await nft(nodeNs, serviceRulesScript(services));
}

/** Removes the node's service table, if present. */
export async function removeServiceRules(nodeNs: string): Promise<void> {
  // `table …` first makes the delete valid when the table does not exist: both are in one transaction.
  await nft(nodeNs, `table ip ${SERVICES_TABLE}\ndelete table ip ${SERVICES_TABLE}\n`);
}

/** The nft script for `services`; exported for tests and for debugging (`ambit … --dry-run`). */
export function serviceRulesScript(services: readonly ServiceRule[]): string {
  const dispatch: string[] = [];
  const noEndpoints: string[] = [];
  const chains: string[] = [];
  services.forEach((svc, i) => {
    validate(svc);
    const proto = svc.protocol === 'TCP' ? 'tcp' : 'udp';
    const match = `ip daddr ${svc.clusterIP} ${proto} dport ${svc.port}`;
    if (svc.endpoints.length === 0) {
      const reject = svc.protocol === 'TCP' ? 'reject with tcp reset' : 'reject with icmp type port-unreachable';
      noEndpoints.push(`    ${match} ${reject}`);
      return;
    }
    const chain = `svc-${i}`;
    dispatch.push(`    ${match} jump ${chain}`);
    const targets = svc.endpoints.map((ep, k) => `${k} : ${ep.ip} . ${ep.port}`).join(', ');
    chains.push(
      [
        `  chain ${chain} {`,
        `    iifname "${POD_BRIDGE}" meta mark set meta mark | ${hex(HAIRPIN_MARK)}`,
        // One map lookup per new connection: numgen is evaluated once, so every endpoint has an equal share.
        `    meta l4proto ${proto} dnat to numgen random mod ${svc.endpoints.length} map { ${targets} }`,
        '  }',
      ].join('\n'),
    );
  });
  return [
    `table ip ${SERVICES_TABLE}`,
    `delete table ip ${SERVICES_TABLE}`,
    `table ip ${SERVICES_TABLE} {`,
    // Before dstnat, so a rejected packet never creates NAT state.
    '  chain filter-prerouting {',
    '    type filter hook prerouting priority dstnat - 10; policy accept;',
    '    jump no-endpoints',
    '  }',
    '  chain filter-output {',
    // nft 1.0.6 knows `dstnat` only for prerouting: -100 is its value.
    '    type filter hook output priority -110; policy accept;',
    '    jump no-endpoints',
    '  }',
    '  chain no-endpoints {',
    ...noEndpoints,
    '  }',
    '  chain nat-prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    jump services',
    '  }',
    '  chain nat-output {',
    '    type nat hook output priority -100; policy accept;',
    '    jump services',
    '  }',
    // Hairpin: a pod reaching a service endpoint on its own node's bridge. Without SNAT the endpoint would answer the
    // client directly over the bridge, with the endpoint's address rather than the ClusterIP, and the client would
    // drop the reply. Only that case is masqueraded, so endpoints elsewhere see the real client address.
    '  chain nat-postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    meta mark & ${hex(HAIRPIN_MARK)} == ${hex(HAIRPIN_MARK)} oifname "${POD_BRIDGE}" masquerade`,
    '  }',
    '  chain services {',
    ...dispatch,
    '  }',
    ...chains,
    '}',
    '',
  ].join('\n');
}

function validate(svc: ServiceRule): void {
  const bad = (what: string): AmbitError =>
    new AmbitError('BAD_SERVICE', `service ${svc.clusterIP}:${svc.port}/${svc.protocol}: bad ${what}`);
  // Everything below is pasted into an nft script: only well-formed values may get there.
  if (!isIPv4(svc.clusterIP)) throw bad('clusterIP');
  if (!isPort(svc.port)) throw bad('port');
  if (svc.protocol !== 'TCP' && svc.protocol !== 'UDP') throw bad('protocol');
  for (const ep of svc.endpoints) {
    if (!isIPv4(ep.ip) || !isPort(ep.port)) throw bad(`endpoint ${ep.ip}:${ep.port}`);
  }
}

function isPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port < 65536;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
