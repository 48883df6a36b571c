import { describeObject, type FieldReader, kubeObjectReader } from '@ambit/core';

/**
 * Typed views of the core and Gateway API objects the model reads: only the fields it uses, narrowed once here
 * (STYLE rule 4). Each `parseX` throws KubeObjectError naming the object and field; nothing past this file sees
 * `unknown`.
 */

export interface OwnerReference {
  readonly kind: string;
  readonly name: string;
  readonly controller: boolean;
}

export interface ObjectMeta {
  readonly name: string;
  /** The object's Kubernetes uid; '' when absent. */
  readonly uid: string;
  /** '' for cluster-scoped kinds (Namespace). */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** RFC 3339 text; '' when absent. Istio breaks ties between conflicting policies by age, oldest first. */
  readonly creationTimestamp: string;
  readonly deletionTimestamp?: string;
  readonly ownerReferences: readonly OwnerReference[];
}

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  /** TCP, UDP or SCTP; Kubernetes defaults it to TCP. */
  readonly protocol: string;
}

export interface PodView {
  readonly meta: ObjectMeta;
  readonly nodeName: string;
  readonly serviceAccountName: string;
  readonly hostNetwork: boolean;
  readonly containerPorts: readonly ContainerPort[];
  /** Pending, Running, Succeeded, Failed, Unknown; '' when the kubelet has not reported yet. */
  readonly phase: string;
  readonly ready: boolean;
  /** status.podIPs, else status.podIP; empty until the CNI has assigned one. */
  readonly ips: readonly string[];
}

export interface ServicePortView {
  readonly name: string;
  readonly port: number;
  /** Absent means "same as port" (Kubernetes' default); a string is a container port name. */
  readonly targetPort?: number | string;
  readonly protocol: string;
  readonly appProtocol?: string;
}

export interface ServiceView {
  readonly meta: ObjectMeta;
  readonly type: string;
  /** Absent or empty: the Service selects no pods (its endpoints are managed by hand). */
  readonly selector: Readonly<Record<string, string>>;
  /** Allocated cluster IPs; empty for headless (`None`) or not-yet-allocated Services. */
  readonly clusterIps: readonly string[];
  readonly ports: readonly ServicePortView[];
}

export interface NamespaceView {
  readonly meta: ObjectMeta;
}

export interface GatewayView {
  readonly meta: ObjectMeta;
  readonly gatewayClassName: string;
}

export function parseObjectMeta(r: FieldReader, value: unknown, namespaced: boolean): ObjectMeta {
  const m = r.record(value, 'metadata');
  const owners = r.optArray(m['ownerReferences'], 'metadata.ownerReferences').map((o, i): OwnerReference => {
    const f = `metadata.ownerReferences[${i}]`;
    const or = r.record(o, f);
    return {
      kind: r.name(or['kind'], `${f}.kind`),
      name: r.name(or['name'], `${f}.name`),
      controller: r.optBoolean(or['controller'], `${f}.controller`) ?? false,
    };
  });
  const deletionTimestamp = r.optString(m['deletionTimestamp'], 'metadata.deletionTimestamp');
  const meta: ObjectMeta = {
    name: r.name(m['name'], 'metadata.name'),
    uid: r.optString(m['uid'], 'metadata.uid') ?? '',
    namespace: namespaced ? r.name(m['namespace'], 'metadata.namespace') : '',
    labels: r.optStringMap(m['labels'], 'metadata.labels'),
    annotations: r.optStringMap(m['annotations'], 'metadata.annotations'),
    creationTimestamp: r.optString(m['creationTimestamp'], 'metadata.creationTimestamp') ?? '',
    ownerReferences: owners,
  };
  return deletionTimestamp === undefined ? meta : { ...meta, deletionTimestamp };
}

export function parsePod(value: unknown): PodView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const spec = r.optRecord(o['spec'], 'spec') ?? {};
  const status = r.optRecord(o['status'], 'status') ?? {};
  const containerPorts: ContainerPort[] = [];
  r.optArray(spec['containers'], 'spec.containers').forEach((c, i) => {
    const cr = r.record(c, `spec.containers[${i}]`);
    r.optArray(cr['ports'], `spec.containers[${i}].ports`).forEach((p, j) => {
      const f = `spec.containers[${i}].ports[${j}]`;
      const pr = r.record(p, f);
      const name = r.optString(pr['name'], `${f}.name`);
      const port = {
        containerPort: r.port(pr['containerPort'], `${f}.containerPort`),
        protocol: r.optString(pr['protocol'], `${f}.protocol`) ?? 'TCP',
      };
      containerPorts.push(name === undefined || name === '' ? port : { ...port, name });
    });
  });
  const ready = r.optArray(status['conditions'], 'status.conditions').some((c, i) => {
    const cr = r.record(c, `status.conditions[${i}]`);
    return cr['type'] === 'Ready' && cr['status'] === 'True';
  });
  let ips = r
    .optArray(status['podIPs'], 'status.podIPs')
    .map((p, i) => r.name(r.record(p, `status.podIPs[${i}]`)['ip'], `status.podIPs[${i}].ip`));
  const podIp = r.optString(status['podIP'], 'status.podIP') ?? '';
  if (ips.length === 0 && podIp !== '') ips = [podIp];
  return {
    meta,
    nodeName: r.optString(spec['nodeName'], 'spec.nodeName') ?? '',
    serviceAccountName: nonEmpty(r.optString(spec['serviceAccountName'], 'spec.serviceAccountName')) ?? 'default',
    hostNetwork: r.optBoolean(spec['hostNetwork'], 'spec.hostNetwork') ?? false,
    containerPorts,
    phase: r.optString(status['phase'], 'status.phase') ?? '',
    ready,
    ips,
  };
}

export function parseService(value: unknown): ServiceView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const spec = r.optRecord(o['spec'], 'spec') ?? {};
  const clusterIps = r.optStrings(spec['clusterIPs'], 'spec.clusterIPs');
  const clusterIp = r.optString(spec['clusterIP'], 'spec.clusterIP');
  const ips = clusterIps.length > 0 ? clusterIps : clusterIp === undefined ? [] : [clusterIp];
  const ports = r.optArray(spec['ports'], 'spec.ports').map((p, i): ServicePortView => {
    const f = `spec.ports[${i}]`;
    const pr = r.record(p, f);
    const targetPort = r.optIntOrString(pr['targetPort'], `${f}.targetPort`);
    const appProtocol = r.optString(pr['appProtocol'], `${f}.appProtocol`);
    return {
      name: r.optString(pr['name'], `${f}.name`) ?? '',
      port: r.port(pr['port'], `${f}.port`),
      protocol: r.optString(pr['protocol'], `${f}.protocol`) ?? 'TCP',
      ...(targetPort === undefined ? {} : { targetPort }),
      ...(appProtocol === undefined ? {} : { appProtocol }),
    };
  });
  return {
    meta,
    type: r.optString(spec['type'], 'spec.type') ?? 'ClusterIP',
    selector: r.optStringMap(spec['selector'], 'spec.selector'),
    // `None` marks a headless Service; '' a ClusterIP not allocated yet. Neither is an address.
    clusterIps: ips.filter((ip) => ip !== '' && ip !== 'None'),
    ports,
  };
}

export function parseNamespace(value: unknown): NamespaceView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  return { meta: parseObjectMeta(r, o['metadata'], false) };
}

export function parseGateway(value: unknown): GatewayView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const spec = r.record(o['spec'], 'spec');
  return { meta, gatewayClassName: r.name(spec['gatewayClassName'], 'spec.gatewayClassName') };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === '' ? undefined : s;
}
