// `ambitctl version`: this client's release, the Kubernetes server's version, the control plane (each controller
// pod's image) and each node's data plane (its ztunnel's and node agent's images), as `istioctl version` shows
// client, control plane and data plane.
import { readFileSync } from 'node:fs';
import { isRecord } from '@ambit/core';
import { loadKubeconfig, type KubeClient } from '@ambit/core/kube';
import { formatTable as table } from '../table.ts';
import { splitImage } from './install-values.ts';
import { NAMESPACE } from './install.ts';

export const CLIENT_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

export interface ComponentPod {
  readonly pod: string;
  readonly node: string;
  readonly image: string;
  /** The image's tag: the release it runs. */
  readonly version: string;
  readonly ready: boolean;
}

export interface VersionReport {
  readonly client: string;
  readonly kubernetes: string;
  readonly controlPlane: readonly ComponentPod[];
  /** Per node (sorted): its ztunnel and node agent pods. */
  readonly dataPlane: ReadonlyArray<{
    readonly node: string;
    readonly ztunnel: readonly ComponentPod[];
    readonly nodeAgent: readonly ComponentPod[];
  }>;
}

export async function versionReport(client: KubeClient): Promise<VersionReport> {
  const server = await client.get<unknown>('/version');
  const kubernetes = isRecord(server) && typeof server['gitVersion'] === 'string' ? server['gitVersion'] : 'unknown';
  const [controllers, ztunnels, agents] = await Promise.all(
    ['ambit-controller', 'ztunnel', 'ambit-node-agent'].map((app) => componentPods(client, app)),
  );
  const nodes = [...new Set([...(ztunnels ?? []), ...(agents ?? [])].map((p) => p.node))].sort();
  return {
    client: CLIENT_VERSION,
    kubernetes,
    controlPlane: controllers ?? [],
    dataPlane: nodes.map((node) => ({
      node,
      ztunnel: (ztunnels ?? []).filter((p) => p.node === node),
      nodeAgent: (agents ?? []).filter((p) => p.node === node),
    })),
  };
}

async function componentPods(client: KubeClient, app: string): Promise<ComponentPod[]> {
  const list = await client.get<unknown>(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent(`app=${app}`)}`);
  const items = isRecord(list) && Array.isArray(list['items']) ? list['items'].filter(isRecord) : [];
  return items
    .map((pod): ComponentPod => {
      const meta = isRecord(pod['metadata']) ? pod['metadata'] : {};
      const spec = isRecord(pod['spec']) ? pod['spec'] : {};
      const status = isRecord(pod['status']) ? pod['status'] : {};
      const container = Array.isArray(spec['containers']) ? spec['containers'].find(isRecord) : undefined;
      const image = isRecord(container) && typeof container['image'] === 'string' ? container['image'] : 'unknown';
      const conditions = Array.isArray(status['conditions']) ? status['conditions'].filter(isRecord) : [];
      return {
        pod: String(meta['name'] ?? ''),
        node: typeof spec['nodeName'] === 'string' ? spec['nodeName'] : '(unscheduled)',
        image,
        version: splitImage(image).tag ?? 'unknown',
        ready: conditions.some((c) => c['type'] === 'Ready' && c['status'] === 'True'),
      };
    })
    .sort((a, b) => a.pod.localeCompare(b.pod));
}

export interface VersionOptions {
  readonly kubeconfig: string;
  readonly json: boolean;
  readonly out: NodeJS.WritableStream;
}

export async function version(opts: VersionOptions): Promise<number> {
  const report = await versionReport(loadKubeconfig(opts.kubeconfig).client);
  if (opts.json) {
    opts.out.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const lines = [`client version: ${report.client}`, `kubernetes version: ${report.kubernetes}`];
  const versions = (pods: readonly ComponentPod[]): string =>
    pods.length === 0 ? 'none' : [...new Set(pods.map((p) => p.version))].join(', ');
  lines.push(`control plane version: ${versions(report.controlPlane)}`);
  if (report.controlPlane.length > 0) {
    lines.push(
      table(
        ['POD', 'NODE', 'IMAGE', 'READY'],
        report.controlPlane.map((p) => [p.pod, p.node, p.image, String(p.ready)]),
      ).replace(/^/gm, '  '),
    );
  }
  const all = report.dataPlane.flatMap((n) => [...n.ztunnel, ...n.nodeAgent]);
  lines.push(`data plane version: ${versions(all)}`);
  if (report.dataPlane.length > 0) {
    const one = (pods: readonly ComponentPod[]): string =>
      pods.length === 0 ? 'none' : pods.map((p) => `${p.version}${p.ready ? '' : ' (not ready)'}`).join(', ');
    lines.push(
      table(
        ['NODE', 'ZTUNNEL', 'NODE AGENT'],
        report.dataPlane.map((n) => [n.node, one(n.ztunnel), one(n.nodeAgent)]),
      ).replace(/^/gm, '  '),
    );
  }
  opts.out.write(`${lines.join('\n')}\n`);
  return 0;
}
