import { asRecord } from '@ambit/core';
import type { KubeObject, PrinterColumn, ResourceType } from '../kube/types.ts';
import { printerCell } from './printer-columns.ts';

/**
 * Server-side printing: meta.k8s.io Tables for `kubectl get`, with the columns of the real printers
 * (pkg/printers/internalversion) for the kinds people look at most. kubectl upper-cases the column names and shows
 * priority-1 columns only with `-o wide`.
 */

export type IncludeObject = 'None' | 'Metadata' | 'Object';

interface Column {
  readonly name: string;
  readonly type: string;
  readonly format?: string;
  readonly description: string;
  readonly priority?: number;
  /** null prints as `<none>`. */
  readonly cell: (o: KubeObject, now: Date) => unknown;
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration, which kubectl's AGE column uses. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  const days = Math.floor(hours / 24) % 365;
  if (hours < 24 * 365 * 8) return days === 0 ? `${years}y` : `${years}y${days}d`;
  return `${years}y`;
}

function age(o: KubeObject, now: Date): string {
  const created = o.metadata.creationTimestamp;
  if (created === undefined) return '<unknown>';
  return humanDuration(now.getTime() - Date.parse(created));
}

const NAME: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  cell: (o) => o.metadata.name ?? '',
};
const AGE: Column = { name: 'Age', type: 'string', description: 'Time since the object was created.', cell: age };

/** kubectl's pod STATUS: the reason a container is waiting or terminated wins over the phase; deletion wins over all. */
function podStatus(pod: KubeObject): string {
  const status = asRecord(pod['status']);
  let reason = str(status['reason']) || str(status['phase'], 'Unknown');
  for (const cs of arr(status['containerStatuses'])) {
    const state = asRecord(asRecord(cs)['state']);
    const waiting = str(asRecord(state['waiting'])['reason']);
    const terminated = asRecord(state['terminated']);
    if (waiting !== '') reason = waiting;
    else if (str(terminated['reason']) !== '') reason = str(terminated['reason']);
    else if (Object.keys(terminated).length > 0) reason = `ExitCode:${num(terminated['exitCode'])}`;
  }
  if (pod.metadata.deletionTimestamp !== undefined) reason = status['reason'] === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

const POD_COLUMNS: readonly Column[] = [
  NAME,
  {
    name: 'Ready',
    type: 'string',
    description: 'The aggregate readiness state of this pod for accepting traffic.',
    cell: (o) => {
      const ready = arr(asRecord(o['status'])['containerStatuses']).filter((c) => asRecord(c)['ready'] === true).length;
      return `${ready}/${arr(asRecord(o['spec'])['containers']).length}`;
    },
  },
  { name: 'Status', type: 'string', description: 'The aggregate status of the containers in this pod.', cell: podStatus },
  {
    name: 'Restarts',
    type: 'string',
    description: 'The number of times the containers in this pod have been restarted.',
    cell: (o) => String(arr(asRecord(o['status'])['containerStatuses']).reduce((n: number, c) => n + num(asRecord(c)['restartCount']), 0)),
  },
  AGE,
  {
    name: 'IP',
    type: 'string',
    priority: 1,
    description: 'The IP address assigned to the pod.',
    cell: (o) => str(asRecord(o['status'])['podIP']) || '<none>',
  },
  {
    name: 'Node',
    type: 'string',
    priority: 1,
    description: 'The node the pod is scheduled to.',
    cell: (o) => str(asRecord(o['spec'])['nodeName']) || '<none>',
  },
];

function nodeStatus(o: KubeObject): string {
  const ready = arr(asRecord(o['status'])['conditions'])
    .map(asRecord)
    .find((c) => c['type'] === 'Ready');
  let s = ready === undefined ? 'Unknown' : ready['status'] === 'True' ? 'Ready' : ready['status'] === 'False' ? 'NotReady' : 'Unknown';
  if (asRecord(o['spec'])['unschedulable'] === true) s += ',SchedulingDisabled';
  return s;
}

const NODE_COLUMNS: readonly Column[] = [
  NAME,
  { name: 'Status', type: 'string', description: 'The status of the node.', cell: nodeStatus },
  {
    name: 'Roles',
    type: 'string',
    description: 'The roles of the node.',
    cell: (o) => {
      const roles = Object.keys(o.metadata.labels ?? {})
        .filter((k) => k.startsWith('node-role.kubernetes.io/'))
        .map((k) => k.slice('node-role.kubernetes.io/'.length))
        .sort();
      return roles.length === 0 ? '<none>' : roles.join(',');
    },
  },
  AGE,
  {
    name: 'Version',
    type: 'string',
    description: 'Kubelet version.',
    cell: (o) => str(asRecord(asRecord(o['status'])['nodeInfo'])['kubeletVersion']),
  },
  {
    name: 'Internal-IP',
    type: 'string',
    priority: 1,
    description: 'The internal IP of the node.',
    cell: (o) =>
      str(
        arr(asRecord(o['status'])['addresses'])
          .map(asRecord)
          .find((a) => a['type'] === 'InternalIP')?.['address'],
      ) || '<none>',
  },
];

function externalIp(o: KubeObject): string {
  const spec = asRecord(o['spec']);
  const type = str(spec['type'], 'ClusterIP');
  const external = arr(spec['externalIPs']).map((x) => str(x));
  if (type === 'ExternalName') return str(spec['externalName']) || '<none>';
  if (type === 'LoadBalancer') {
    const ingress = arr(asRecord(asRecord(o['status'])['loadBalancer'])['ingress'])
      .map(asRecord)
      .map((i) => str(i['ip']) || str(i['hostname']));
    const all = [...ingress, ...external].filter((x) => x !== '');
    return all.length === 0 ? '<pending>' : all.join(',');
  }
  return external.length === 0 ? '<none>' : external.join(',');
}

function ports(o: KubeObject): string {
  const list = arr(asRecord(o['spec'])['ports'])
    .map(asRecord)
    .map((p) => `${num(p['port'])}${p['nodePort'] === undefined ? '' : `:${num(p['nodePort'])}`}/${str(p['protocol'], 'TCP')}`);
  return list.length === 0 ? '<none>' : list.join(',');
}

const SERVICE_COLUMNS: readonly Column[] = [
  NAME,
  { name: 'Type', type: 'string', description: 'The type of the service.', cell: (o) => str(asRecord(o['spec'])['type'], 'ClusterIP') },
  {
    name: 'Cluster-IP',
    type: 'string',
    description: 'The cluster IP of the service.',
    cell: (o) => str(asRecord(o['spec'])['clusterIP']) || '<none>',
  },
  { name: 'External-IP', type: 'string', description: 'The external IPs of the service.', cell: externalIp },
  { name: 'Port(s)', type: 'string', description: 'The ports of the service.', cell: ports },
  AGE,
  {
    name: 'Selector',
    type: 'string',
    priority: 1,
    description: 'The label selector of the service.',
    cell: (o) => {
      const sel = Object.entries(asRecord(asRecord(o['spec'])['selector'])).map(([k, v]) => `${k}=${str(v)}`);
      return sel.length === 0 ? '<none>' : sel.join(',');
    },
  },
];

const DEPLOYMENT_COLUMNS: readonly Column[] = [
  NAME,
  {
    name: 'Ready',
    type: 'string',
    description: 'Number of the pod with ready state.',
    cell: (o) => {
      const r = asRecord(o['spec'])['replicas'];
      return `${num(asRecord(o['status'])['readyReplicas'])}/${typeof r === 'number' ? r : 1}`;
    },
  },
  {
    name: 'Up-to-date',
    type: 'integer',
    description: 'Total number of updated pods.',
    cell: (o) => num(asRecord(o['status'])['updatedReplicas']),
  },
  {
    name: 'Available',
    type: 'integer',
    description: 'Total number of available pods.',
    cell: (o) => num(asRecord(o['status'])['availableReplicas']),
  },
  AGE,
];

const statusCount =
  (field: string) =>
  (o: KubeObject): number =>
    num(asRecord(o['status'])[field]);

/** labels.FormatLabels: `k=v` pairs sorted by key, `<none>` when empty. */
function formatLabels(m: unknown): string {
  const pairs = Object.entries(asRecord(m))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${str(v)}`);
  return pairs.length === 0 ? '<none>' : pairs.join(',');
}

// kube-apiserver's printDaemonSet (descriptions from apps/v1 DaemonSetStatus).
const DAEMONSET_COLUMNS: readonly Column[] = [
  NAME,
  {
    name: 'Desired',
    type: 'integer',
    description: 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).',
    cell: statusCount('desiredNumberScheduled'),
  },
  {
    name: 'Current',
    type: 'integer',
    description: 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.',
    cell: statusCount('currentNumberScheduled'),
  },
  {
    name: 'Ready',
    type: 'integer',
    description: 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.',
    cell: statusCount('numberReady'),
  },
  {
    name: 'Up-to-date',
    type: 'integer',
    description: 'The total number of nodes that are running updated daemon pod',
    cell: statusCount('updatedNumberScheduled'),
  },
  {
    name: 'Available',
    type: 'integer',
    description:
      'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)',
    cell: statusCount('numberAvailable'),
  },
  {
    name: 'Node Selector',
    type: 'string',
    description: 'NodeSelector is a selector which must be true for the pod to fit on a node.',
    cell: (o) => formatLabels(asRecord(asRecord(asRecord(o['spec'])['template'])['spec'])['nodeSelector']),
  },
  AGE,
  {
    name: 'Containers',
    type: 'string',
    priority: 1,
    description: 'Names of each container in the template.',
    cell: (o) =>
      arr(asRecord(asRecord(asRecord(o['spec'])['template'])['spec'])['containers'])
        .map((c) => str(asRecord(c)['name']))
        .join(','),
  },
  {
    name: 'Images',
    type: 'string',
    priority: 1,
    description: 'Images referenced by each container in the template.',
    cell: (o) =>
      arr(asRecord(asRecord(asRecord(o['spec'])['template'])['spec'])['containers'])
        .map((c) => str(asRecord(c)['image']))
        .join(','),
  },
  {
    name: 'Selector',
    type: 'string',
    priority: 1,
    description: 'A label query over pods that should match the pod count.',
    cell: (o) => formatLabels(asRecord(asRecord(asRecord(o['spec'])['selector'])['matchLabels'])),
  },
];

// kube-apiserver's printControllerRevision: CONTROLLER is `<kind>.<group>/<name>` of the controlling owner.
const CONTROLLER_REVISION_COLUMNS: readonly Column[] = [
  NAME,
  {
    name: 'Controller',
    type: 'string',
    description: 'Controller of the object',
    cell: (o) => {
      const ref = (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
      if (ref === undefined) return '<none>';
      const slash = ref.apiVersion.indexOf('/');
      const group = slash === -1 ? '' : ref.apiVersion.slice(0, slash);
      return `${ref.kind.toLowerCase()}${group === '' ? '' : `.${group}`}/${ref.name}`;
    },
  },
  {
    name: 'Revision',
    type: 'integer',
    description: 'Revision indicates the revision of the state represented by Data.',
    cell: (o) => num(o['revision']),
  },
  AGE,
];

const NAMESPACE_COLUMNS: readonly Column[] = [
  NAME,
  {
    name: 'Status',
    type: 'string',
    description: 'The status of the namespace.',
    cell: (o) => str(asRecord(o['status'])['phase'], 'Active'),
  },
  AGE,
];

const since = (t: unknown, now: Date): string => {
  const ms = Date.parse(str(t));
  return Number.isFinite(ms) ? humanDuration(now.getTime() - ms) : '<unknown>';
};

// kube-apiserver's printEvent: OBJECT is `<lower-case kind>/<name>`; the priority-1 columns show with `-o wide`.
const EVENT_COLUMNS: readonly Column[] = [
  { name: 'Last Seen', type: 'string', description: 'Time since the last occurrence.', cell: (o, now) => since(o['lastTimestamp'], now) },
  { name: 'Type', type: 'string', description: 'Normal or Warning.', cell: (o) => str(o['type']) },
  { name: 'Reason', type: 'string', description: 'Why the action was taken.', cell: (o) => str(o['reason']) },
  {
    name: 'Object',
    type: 'string',
    description: 'The object this event is about.',
    cell: (o) => {
      const inv = asRecord(o['involvedObject']);
      const kind = str(inv['kind']).toLowerCase();
      return str(inv['name']) === '' ? kind : `${kind}/${str(inv['name'])}`;
    },
  },
  {
    name: 'Subobject',
    type: 'string',
    priority: 1,
    description: 'Part of the object.',
    cell: (o) => str(asRecord(o['involvedObject'])['fieldPath']),
  },
  {
    name: 'Source',
    type: 'string',
    priority: 1,
    description: 'The component reporting this event.',
    cell: (o) => {
      const src = asRecord(o['source']);
      return str(src['host']) === '' ? str(src['component']) : `${str(src['component'])}, ${str(src['host'])}`;
    },
  },
  { name: 'Message', type: 'string', description: 'A human-readable description.', cell: (o) => str(o['message']).trim() },
  {
    name: 'First Seen',
    type: 'string',
    priority: 1,
    description: 'Time since the first occurrence.',
    cell: (o, now) => since(o['firstTimestamp'], now),
  },
  { name: 'Count', type: 'integer', priority: 1, description: 'How many times it occurred.', cell: (o) => num(o['count']) },
  { name: 'Name', type: 'string', priority: 1, description: 'The event name.', cell: (o) => o.metadata.name ?? '' },
];

/** A CRD's additionalPrinterColumns, after NAME as kube-apiserver puts them. */
function crdColumn(c: PrinterColumn): Column {
  return {
    name: c.name,
    type: c.type,
    ...(c.format === undefined ? {} : { format: c.format }),
    description: c.description ?? `Custom resource definition column (in JSONPath format): ${c.jsonPath}`,
    ...(c.priority === undefined ? {} : { priority: c.priority }),
    cell: (o, now) => printerCell(c, o, (t) => humanDuration(now.getTime() - Date.parse(t))),
  };
}

// kube-apiserver's default table convertor, which CustomResourceDefinitions get: the creation time, not an age.
const CREATED_AT_COLUMNS: readonly Column[] = [
  NAME,
  {
    name: 'Created At',
    type: 'date',
    description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
    cell: (o) => o.metadata.creationTimestamp ?? '',
  },
];

function columnsFor(type: ResourceType): readonly Column[] {
  if (type.group === 'apiextensions.k8s.io' && type.kind === 'CustomResourceDefinition') return CREATED_AT_COLUMNS;
  if (type.printerColumns !== undefined) return [NAME, ...type.printerColumns.map(crdColumn)];
  if (type.group === '' && type.kind === 'Pod') return POD_COLUMNS;
  if (type.group === '' && type.kind === 'Node') return NODE_COLUMNS;
  if (type.group === '' && type.kind === 'Service') return SERVICE_COLUMNS;
  if (type.group === '' && type.kind === 'Namespace') return NAMESPACE_COLUMNS;
  if (type.group === '' && type.kind === 'Event') return EVENT_COLUMNS;
  if (type.group === 'apps' && type.kind === 'Deployment') return DEPLOYMENT_COLUMNS;
  if (type.group === 'apps' && type.kind === 'DaemonSet') return DAEMONSET_COLUMNS;
  if (type.group === 'apps' && type.kind === 'ControllerRevision') return CONTROLLER_REVISION_COLUMNS;
  return [NAME, AGE];
}

function rowObject(o: KubeObject, include: IncludeObject): KubeObject | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  // PartialObjectMetadata: kubectl reads the namespace (for -A) and labels (for --show-labels) from it.
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

export interface TableOptions {
  /** `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, as negotiated. */
  readonly apiVersion: string;
  readonly includeObject: IncludeObject;
  readonly resourceVersion: string;
  readonly now: Date;
}

export function toTable(type: ResourceType, objects: readonly KubeObject[], opts: TableOptions): KubeObject {
  const columns = columnsFor(type);
  return {
    kind: 'Table',
    apiVersion: opts.apiVersion,
    metadata: { resourceVersion: opts.resourceVersion },
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description,
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => {
      const object = rowObject(o, opts.includeObject);
      const cells = columns.map((c) => c.cell(o, opts.now));
      return object === undefined ? { cells } : { cells, object };
    }),
  };
}

/** Parses `?includeObject=`; default Metadata, like the real server. */
export function parseIncludeObject(v: string | null): IncludeObject {
  if (v === null || v === '' || v === 'Metadata') return 'Metadata';
  if (v === 'None' || v === 'Object') return v;
  return 'Metadata';
}
