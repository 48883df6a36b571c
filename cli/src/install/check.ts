// `ambitctl check`: what must hold before `ambitctl install`, as `istioctl x precheck` and `linkerd check --pre` do.
// Everything is read through the API, as the installing user: the Kubernetes version, Gateway API's kinds, each node's
// readiness (the kubelet reports Ready only once the runtime has a working CNI config) and kernel, and whether the
// user may create what install creates. What the API cannot show is said, not guessed: which CNI a node runs and
// whether its config is a chainable list (the node agent finds out on the node, at install).
import { AmbitError, errorMessage, isRecord } from '@ambit/core';
import { KubeApiError, loadKubeconfig, type KubeClient } from '@ambit/core/kube';
import { renderInstall } from './install.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly section: string;
  readonly status: CheckStatus;
  readonly message: string;
  /** What to do about it. */
  readonly fix?: string;
}

/** Kubernetes releases Ambit is tested against start here (server-side apply, bound service-account tokens, DaemonSet surge). */
export const MIN_KUBERNETES = { major: 1, minor: 28 };
/** The Gateway API release whose standard channel Ambit needs (GRPCRoute v1 came in v1.1); the fix installs this one. */
export const GATEWAY_API_RELEASE = 'v1.2.1';
export const GATEWAY_API_FIX = `kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/${GATEWAY_API_RELEASE}/standard-install.yaml`;
/** What the controller watches (deploy/base RBAC; controller/src/kube/watched-kinds.ts), by group version. */
export const GATEWAY_API_KINDS: ReadonlyArray<{ readonly version: string; readonly plural: string; readonly kind: string }> = [
  { version: 'v1', plural: 'gatewayclasses', kind: 'GatewayClass' },
  { version: 'v1', plural: 'gateways', kind: 'Gateway' },
  { version: 'v1', plural: 'httproutes', kind: 'HTTPRoute' },
  { version: 'v1', plural: 'grpcroutes', kind: 'GRPCRoute' },
  { version: 'v1beta1', plural: 'referencegrants', kind: 'ReferenceGrant' },
];
/** The in-pod capture is an nftables `inet` table with nat chains: Linux 5.2 added nat to the inet family. */
const MIN_KERNEL_NFT_INET_NAT = [5, 2] as const;
/** net.ipv4.tcp_migrate_req (Linux 5.14): a restarting ztunnel's queued connections move to the new one. */
const MIN_KERNEL_MIGRATE_REQ = [5, 14] as const;

export async function runChecks(client: KubeClient, overlay = 'cluster'): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  results.push(await kubernetesVersion(client));
  results.push(...(await gatewayApi(client)));
  results.push(...(await nodes(client)));
  results.push(...(await permissions(client, overlay)));
  return results;
}

async function kubernetesVersion(client: KubeClient): Promise<CheckResult> {
  const section = 'Kubernetes';
  let v: unknown;
  try {
    v = await client.get<unknown>('/version');
  } catch (err) {
    return {
      section,
      status: 'fail',
      message: `cannot reach the API server: ${errorMessage(err)}`,
      fix: 'check --kubeconfig and the cluster',
    };
  }
  const git = isRecord(v) && typeof v['gitVersion'] === 'string' ? v['gitVersion'] : 'unknown';
  const major = Number(isRecord(v) ? v['major'] : NaN);
  const minor = Number.parseInt(String(isRecord(v) ? v['minor'] : ''), 10);
  if (!Number.isInteger(major) || !Number.isInteger(minor))
    return { section, status: 'warn', message: `API server ${git}: cannot read its version` };
  const min = `${MIN_KUBERNETES.major}.${MIN_KUBERNETES.minor}`;
  if (major < MIN_KUBERNETES.major || (major === MIN_KUBERNETES.major && minor < MIN_KUBERNETES.minor)) {
    return {
      section,
      status: 'fail',
      message: `API server ${git} is older than ${min}`,
      fix: `upgrade the cluster to Kubernetes ${min} or later`,
    };
  }
  return { section, status: 'ok', message: `API server ${git} (${min} or later)` };
}

/** Which Gateway API kinds discovery serves: what a client can use, whether CRDs or anything else serve them. */
async function gatewayApi(client: KubeClient): Promise<CheckResult[]> {
  const section = 'Gateway API';
  const missing: string[] = [];
  for (const version of [...new Set(GATEWAY_API_KINDS.map((k) => k.version))]) {
    const served = await discover(client, `/apis/gateway.networking.k8s.io/${version}`);
    for (const k of GATEWAY_API_KINDS.filter((x) => x.version === version)) {
      if (!served.has(k.plural)) missing.push(`${k.plural}.gateway.networking.k8s.io (${k.kind} ${version})`);
    }
  }
  if (missing.length === 0)
    return [
      {
        section,
        status: 'ok',
        message: 'Gateway API CRDs present (GatewayClass, Gateway, HTTPRoute, GRPCRoute v1; ReferenceGrant v1beta1)',
      },
    ];
  return [
    {
      section,
      status: 'fail',
      message: `Gateway API CRDs missing: ${missing.join(', ')} — Ambit's waypoints and routes are Gateway API objects, and its controller watches these kinds`,
      fix: `install Gateway API ${GATEWAY_API_RELEASE} (standard channel): ${GATEWAY_API_FIX}`,
    },
  ];
}

/** The plurals a group version serves; empty when it is not served at all (404). */
async function discover(client: KubeClient, path: string): Promise<Set<string>> {
  try {
    const doc = await client.get<unknown>(path);
    const resources = isRecord(doc) && Array.isArray(doc['resources']) ? doc['resources'] : [];
    return new Set(resources.filter(isRecord).map((r) => String(r['name'])));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return new Set();
    throw err;
  }
}

function kernelAtLeast(kernel: string, min: readonly [number, number]): boolean | undefined {
  const m = /^(\d+)\.(\d+)/.exec(kernel);
  if (m === null) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > min[0] || (major === min[0] && minor >= min[1]);
}

async function nodes(client: KubeClient): Promise<CheckResult[]> {
  const list = await client.get<unknown>('/api/v1/nodes');
  const items = isRecord(list) && Array.isArray(list['items']) ? list['items'].filter(isRecord) : [];
  if (items.length === 0) return [{ section: 'Nodes', status: 'fail', message: 'the cluster has no nodes' }];
  const out: CheckResult[] = [];
  for (const node of items) {
    const name = isRecord(node['metadata']) ? String(node['metadata']['name']) : '?';
    const status = isRecord(node['status']) ? node['status'] : {};
    const info = isRecord(status['nodeInfo']) ? status['nodeInfo'] : {};
    const conditions = Array.isArray(status['conditions']) ? status['conditions'].filter(isRecord) : [];
    const ready = conditions.find((c) => c['type'] === 'Ready');
    // The kubelet reports Ready=False ("container runtime network not ready … cni plugin not initialized") while the
    // runtime has no CNI config; Ready=True means a primary CNI is there for ambit-cni to chain into.
    if (ready?.['status'] === 'True') {
      out.push({
        section: 'CNI',
        status: 'ok',
        message: `node ${name}: Ready, so its runtime has a working CNI network (which CNI, and its config file, cannot be read through the API: the node agent checks that on the node)`,
      });
    } else {
      out.push({
        section: 'CNI',
        status: 'fail',
        message: `node ${name}: not Ready: ${String(ready?.['reason'] ?? 'no Ready condition')}${ready?.['message'] === undefined ? '' : `: ${String(ready['message'])}`}`,
        fix: 'install the cluster’s primary CNI (Ambit chains into it) and wait for the node to be Ready',
      });
    }
    const kernel = typeof info['kernelVersion'] === 'string' ? info['kernelVersion'] : '';
    const nat = kernelAtLeast(kernel, MIN_KERNEL_NFT_INET_NAT);
    const migrate = kernelAtLeast(kernel, MIN_KERNEL_MIGRATE_REQ);
    if (nat === undefined) {
      out.push({
        section: 'Kernel',
        status: 'warn',
        message: `node ${name}: kernel version not reported (status.nodeInfo.kernelVersion); nftables inet nat (5.2+) and tcp_migrate_req (5.14+) cannot be checked`,
      });
    } else if (!nat) {
      out.push({
        section: 'Kernel',
        status: 'fail',
        message: `node ${name}: kernel ${kernel} lacks nftables nat in inet tables (Linux 5.2+), which the pod capture uses`,
        fix: 'upgrade the node’s kernel',
      });
    } else {
      out.push({
        section: 'Kernel',
        status: migrate === true ? 'ok' : 'warn',
        message:
          migrate === true
            ? `node ${name}: kernel ${kernel}: nftables inet nat, tcp_migrate_req (whether the nf_tables modules are loaded cannot be seen through the API)`
            : `node ${name}: kernel ${kernel} has no tcp_migrate_req (5.14+): connections queued at a ztunnel restart are reset`,
      });
    }
  }
  return out;
}

/**
 * SelfSubjectAccessReviews for what install does: create and patch (server-side apply) every object the cluster
 * overlay renders, in its namespace; one result listing every denied permission.
 */
async function permissions(client: KubeClient, overlay: string): Promise<CheckResult[]> {
  const section = 'Permissions';
  const objects = await renderInstall(overlay, {});
  const wanted = new Map<string, { group: string; resource: string; namespace?: string }>();
  for (const o of objects) {
    const apiVersion = String(o['apiVersion']);
    const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
    const ns = isRecord(o['metadata']) && typeof o['metadata']['namespace'] === 'string' ? o['metadata']['namespace'] : undefined;
    const resource = plural(String(o['kind']));
    wanted.set(`${group}/${resource}/${ns ?? ''}`, { group, resource, ...(ns === undefined ? {} : { namespace: ns }) });
  }
  const denied: string[] = [];
  for (const w of wanted.values()) {
    for (const verb of ['create', 'patch']) {
      let allowed: boolean;
      try {
        allowed = await canI(client, verb, w.group, w.resource, w.namespace);
      } catch (err) {
        if (err instanceof KubeApiError && (err.status === 404 || err.status === 405)) {
          return [
            { section, status: 'warn', message: 'the API server does not serve SelfSubjectAccessReview: permissions cannot be checked' },
          ];
        }
        throw err;
      }
      if (!allowed)
        denied.push(`${verb} ${w.resource}${w.group === '' ? '' : `.${w.group}`}${w.namespace === undefined ? '' : ` in ${w.namespace}`}`);
    }
  }
  if (denied.length === 0)
    return [{ section, status: 'ok', message: `may create and update everything install applies (${wanted.size} kinds)` }];
  return [
    {
      section,
      status: 'fail',
      message: `install would be refused: cannot ${denied.join('; ')}`,
      fix: 'run install as a cluster admin (e.g. a user bound to cluster-admin)',
    },
  ];
}

async function canI(client: KubeClient, verb: string, group: string, resource: string, namespace: string | undefined): Promise<boolean> {
  const review = await client.request<unknown>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb, group, resource, ...(namespace === undefined ? {} : { namespace }) } },
  });
  const status = isRecord(review) && isRecord(review['status']) ? review['status'] : undefined;
  if (status === undefined) throw new AmbitError('BAD_REVIEW', `SelfSubjectAccessReview for ${verb} ${resource}: no status in the answer`);
  return status['allowed'] === true;
}

/** Plural of the kinds deploy/ renders (Kubernetes' own guess, meta.UnsafeGuessKindToResource, is right for all of them). */
function plural(kind: string): string {
  const lower = kind.toLowerCase();
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

export interface CheckOptions {
  readonly kubeconfig: string;
  readonly json: boolean;
  readonly out: NodeJS.WritableStream;
  /** Overlay whose objects the permission check asks about; default `cluster`. */
  readonly overlay?: string;
}

const MARK: Record<CheckStatus, string> = { ok: '✔', warn: '‼', fail: '✖' };

/** Exit code 1 when any check fails (warnings do not). */
export async function check(opts: CheckOptions): Promise<number> {
  const results = await runChecks(loadKubeconfig(opts.kubeconfig).client, opts.overlay);
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  if (opts.json) {
    opts.out.write(`${JSON.stringify({ results, failed, warned }, null, 2)}\n`);
    return failed > 0 ? 1 : 0;
  }
  const lines: string[] = [];
  let section = '';
  for (const r of results) {
    if (r.section !== section) {
      section = r.section;
      lines.push(section, '-'.repeat(section.length));
    }
    lines.push(`${MARK[r.status]} ${r.message}`);
    if (r.fix !== undefined) lines.push(`    fix: ${r.fix}`);
  }
  lines.push(
    '',
    failed > 0
      ? `Status: ${failed} check(s) failed, ${warned} warning(s): fix the failures before \`ambitctl install\``
      : `Status: ready to install (${warned} warning(s))`,
  );
  opts.out.write(`${lines.join('\n')}\n`);
  return failed > 0 ? 1 : 0;
}
