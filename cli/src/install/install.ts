// `ambitctl install` and `ambitctl uninstall`: deploy/ rendered by kustomize (through kubectl), the --set values
// applied, then server-side apply, and a wait on every rollout with kubectl's own progress lines; uninstall deletes in
// the order that lets the node agents clean the nodes up while ztunnel still runs.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { AmbitError, isRecord } from '@ambit/core';
import { applyValues, type InstallValues } from './install-values.ts';
import { DEPLOY_DIR, kubectlOk, renderKustomization, runKubectl } from './kubectl.ts';

type Obj = Record<string, unknown>;

export interface InstallOptions {
  /** The cluster (undefined only with dryRun). */
  readonly kubeconfig?: string;
  /** `cluster`, `local` (deploy/overlays/…) or a kustomization directory. */
  readonly overlay: string;
  readonly values: InstallValues;
  readonly dryRun: boolean;
  /** kubectl apply without --server-side, for an API server that lacks server-side apply. */
  readonly clientSide: boolean;
  /** Bound on each rollout wait, seconds. */
  readonly timeoutSeconds: number;
  readonly out: NodeJS.WritableStream;
}

export const NAMESPACE = 'ambit-system';
/** The field manager of ambitctl's server-side applies (kubectl's default would be `kubectl`). */
export const FIELD_MANAGER = 'ambitctl';

export function overlayDir(overlay: string): string {
  return overlay === 'cluster' || overlay === 'local' ? join(DEPLOY_DIR, 'overlays', overlay) : overlay;
}

/** What install applies: the overlay rendered, the values applied. */
export async function renderInstall(overlay: string, values: InstallValues): Promise<Obj[]> {
  return applyValues(await renderKustomization(overlayDir(overlay)), values);
}

export function toYaml(objects: readonly Obj[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join('');
}

export async function install(opts: InstallOptions): Promise<void> {
  const objects = await renderInstall(opts.overlay, opts.values);
  if (opts.dryRun) {
    opts.out.write(toYaml(objects));
    return;
  }
  const kubeconfig = need(opts.kubeconfig);
  const say = (line: string): void => void opts.out.write(`${line}\n`);
  // Kinds of a CRD the cluster does not have (a PodMonitor without the Prometheus Operator) cannot be applied: they are
  // left out, saying so, rather than failing the whole install.
  const crdKinds = new Set(objects.filter((o) => o['kind'] === 'CustomResourceDefinition').flatMap(crdGroupKinds));
  const discovery = new Map<string, Promise<Set<string>>>();
  const kept: Obj[] = [];
  for (const o of objects) {
    const gvk = groupVersion(o);
    const kind = String(o['kind']);
    if (!discovery.has(gvk.apiVersion)) discovery.set(gvk.apiVersion, servedKinds(kubeconfig, gvk.apiVersion));
    if (crdKinds.has(`${gvk.group}/${kind}`) || (await discovery.get(gvk.apiVersion))?.has(kind) === true) kept.push(o);
    else say(`skipping ${describe(o)}: the cluster does not serve ${gvk.apiVersion} ${kind}`);
  }
  // CRDs and the Namespace first: objects of a kind whose CRD was created in the same apply fail with "no matches".
  const first = kept.filter((o) => o['kind'] === 'CustomResourceDefinition' || o['kind'] === 'Namespace');
  const rest = kept.filter((o) => !first.includes(o));
  await apply(kubeconfig, first, opts, say);
  for (const o of first) if (o['kind'] === 'CustomResourceDefinition') await waitServed(kubeconfig, o, opts.timeoutSeconds);
  await apply(kubeconfig, rest, opts, say);
  for (const o of rest) {
    if (o['kind'] !== 'Deployment' && o['kind'] !== 'DaemonSet') continue;
    say(`waiting for ${describe(o)} to roll out…`);
    const ns = namespaceOf(o) ?? NAMESPACE;
    const r = await runKubectl(
      ['rollout', 'status', `${String(o['kind']).toLowerCase()}/${nameOf(o)}`, '-n', ns, `--timeout=${opts.timeoutSeconds}s`],
      {
        kubeconfig,
        onLine: (l) => say(`  ${l}`),
      },
    );
    if (r.code !== 0)
      throw new AmbitError(
        'ROLLOUT_FAILED',
        `${describe(o)} did not roll out within ${opts.timeoutSeconds}s (kubectl -n ${ns} describe ${String(o['kind']).toLowerCase()} ${nameOf(o)})`,
      );
  }
  say('Ambit is installed.');
}

async function apply(kubeconfig: string, objects: readonly Obj[], opts: InstallOptions, say: (l: string) => void): Promise<void> {
  if (objects.length === 0) return;
  const mode = opts.clientSide ? [] : ['--server-side', `--field-manager=${FIELD_MANAGER}`];
  await kubectlOk(['apply', ...mode, '-f', '-'], { kubeconfig, input: toYaml(objects), onLine: (l) => l !== '' && say(l) });
}

export interface UninstallOptions {
  readonly kubeconfig: string;
  readonly overlay: string;
  /** Also the CRDs (and every object of their kinds), the CA Secret and the namespace. */
  readonly purge: boolean;
  readonly timeoutSeconds: number;
  readonly out: NodeJS.WritableStream;
}

/**
 * 1. The node-agent DaemonSet, foreground: its pods go first, and each agent, seeing its DaemonSet being deleted,
 *    un-chains the CNI plugin and releases every pod of its node (cni/src/agent/uninstall-check.ts) — while ztunnel
 *    still runs, so it is told and closes the pods' listeners; kubectl waits until the DaemonSet is gone.
 * 2. Everything else install created, but the namespace and CRDs (and the CA Secret, which is not rendered), so a
 *    re-install keeps the mesh's root of trust and users' policies; the controller's own objects: root-cert ConfigMaps
 *    and waypoint Deployments/Services/ServiceAccounts (their Gateways, users' objects, stay).
 * 3. With --purge: the CA Secret, the CRDs (their objects with them) and the namespace.
 */
export async function uninstall(opts: UninstallOptions): Promise<void> {
  const { kubeconfig } = opts;
  const say = (line: string): void => void opts.out.write(`${line}\n`);
  const t = `--timeout=${opts.timeoutSeconds}s`;
  const objects = await renderKustomization(overlayDir(opts.overlay));
  say('removing the node agents (each cleans its node up)…');
  await kubectlOk(['delete', 'daemonset', 'ambit-node-agent', '-n', NAMESPACE, '--cascade=foreground', '--ignore-not-found', '--wait', t], {
    kubeconfig,
    onLine: (l) => l !== '' && say(`  ${l}`),
  });
  // Foreground deletion makes kubectl wait for the pods on a real API server; an API that deletes the owner first
  // (background semantics) does not: either way, ztunnel must outlive every agent's clean-up.
  const gone = await runKubectl(['wait', '--for=delete', 'pod', '-l', 'app=ambit-node-agent', '-n', NAMESPACE, t], { kubeconfig });
  if (gone.code !== 0 && !gone.stderr.includes('no matching resources found')) {
    throw new AmbitError(
      'UNINSTALL_STUCK',
      `node-agent pods still there after ${opts.timeoutSeconds}s, so nodes may still be captured: ${gone.stderr.trim()}`,
    );
  }
  const keep = (o: Obj): boolean => o['kind'] === 'Namespace' || o['kind'] === 'CustomResourceDefinition';
  const rest = objects.filter((o) => !keep(o) && !(o['kind'] === 'DaemonSet' && nameOf(o) === 'ambit-node-agent'));
  await deleteObjects(kubeconfig, rest, t, say);
  for (const [resource, selector] of [
    ['configmaps', 'app.kubernetes.io/managed-by=ambit'],
    ['deployments,services,serviceaccounts', 'gateway.istio.io/managed=istio.io-mesh-controller'],
  ] as const) {
    await kubectlOk(['delete', resource, '-A', '-l', selector, '--ignore-not-found', '--wait', t], {
      kubeconfig,
      onLine: (l) => l !== '' && say(`  ${l}`),
    });
  }
  if (opts.purge) {
    say('purging the CA Secret, the CRDs and the namespace…');
    await kubectlOk(['delete', 'secret', 'ambit-ca', '-n', NAMESPACE, '--ignore-not-found', '--wait', t], {
      kubeconfig,
      onLine: (l) => l !== '' && say(`  ${l}`),
    });
    // The namespace last: deleting it first would take the CRDs' objects in it down in arbitrary order.
    await deleteObjects(
      kubeconfig,
      objects.filter((o) => o['kind'] === 'CustomResourceDefinition'),
      t,
      say,
    );
    await deleteObjects(
      kubeconfig,
      objects.filter((o) => o['kind'] === 'Namespace'),
      t,
      say,
    );
  }
  say(
    opts.purge
      ? 'Ambit is uninstalled (purged).'
      : `Ambit is uninstalled; kept: namespace ${NAMESPACE} with the CA Secret, and the CRDs (--purge removes them).`,
  );
}

/**
 * One `kubectl delete` for the objects of kinds the cluster serves (a kind it does not serve, the PodMonitor without
 * the Prometheus Operator, has nothing to delete, and kubectl would stop at it).
 */
async function deleteObjects(kubeconfig: string, objects: readonly Obj[], timeout: string, say: (l: string) => void): Promise<void> {
  const discovery = new Map<string, Promise<Set<string>>>();
  const served: Obj[] = [];
  for (const o of objects) {
    const { apiVersion } = groupVersion(o);
    if (!discovery.has(apiVersion)) discovery.set(apiVersion, servedKinds(kubeconfig, apiVersion));
    if ((await discovery.get(apiVersion))?.has(String(o['kind'])) === true) served.push(o);
  }
  if (served.length === 0) return;
  const r = await runKubectl(['delete', '-f', '-', '--ignore-not-found', '--wait', timeout], { kubeconfig, input: toYaml(served) });
  for (const l of r.stdout.split('\n')) if (l !== '') say(`  ${l}`);
  if (r.code !== 0) throw new AmbitError('KUBECTL_FAILED', `kubectl delete: ${r.stderr.trim()}`);
}

function need(kubeconfig: string | undefined): string {
  if (kubeconfig === undefined) throw new AmbitError('BUG', 'BUG: no kubeconfig for a command that needs a cluster');
  return kubeconfig;
}

function groupVersion(o: Obj): { group: string; apiVersion: string } {
  const apiVersion = String(o['apiVersion'] ?? '');
  const slash = apiVersion.lastIndexOf('/');
  return { group: slash < 0 ? '' : apiVersion.slice(0, slash), apiVersion };
}

function crdGroupKinds(crd: Obj): string[] {
  const spec = crd['spec'];
  if (!isRecord(spec) || !isRecord(spec['names'])) return [];
  return [`${String(spec['group'])}/${String(spec['names']['kind'])}`];
}

/** The kinds discovery lists under apiVersion (none when the group version is not served). */
async function servedKinds(kubeconfig: string, apiVersion: string): Promise<Set<string>> {
  const r = await runKubectl(['get', '--raw', apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`], { kubeconfig });
  if (r.code !== 0) return new Set();
  try {
    const doc: unknown = JSON.parse(r.stdout);
    const resources = isRecord(doc) && Array.isArray(doc['resources']) ? doc['resources'] : [];
    return new Set(resources.filter(isRecord).map((res) => String(res['kind'])));
  } catch {
    return new Set();
  }
}

async function served(kubeconfig: string, apiVersion: string, kind: string): Promise<boolean> {
  return (await servedKinds(kubeconfig, apiVersion)).has(kind);
}

/** Waits until every served version of a just-applied CRD is in discovery (its kinds can be applied). */
async function waitServed(kubeconfig: string, crd: Obj, timeoutSeconds: number): Promise<void> {
  const spec = isRecord(crd['spec']) ? crd['spec'] : {};
  const kind = isRecord(spec['names']) ? String(spec['names']['kind']) : '';
  const versions = Array.isArray(spec['versions']) ? spec['versions'].filter(isRecord).filter((v) => v['served'] !== false) : [];
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (const v of versions) {
    const apiVersion = `${String(spec['group'])}/${String(v['name'])}`;
    while (!(await served(kubeconfig, apiVersion, kind))) {
      if (Date.now() > deadline)
        throw new AmbitError('CRD_NOT_SERVED', `CRD ${nameOf(crd)}: ${apiVersion} ${kind} not served after ${timeoutSeconds}s`);
      await sleep(250);
    }
  }
}

function nameOf(o: Obj): string {
  return isRecord(o['metadata']) ? String(o['metadata']['name']) : '';
}

function namespaceOf(o: Obj): string | undefined {
  const ns = isRecord(o['metadata']) ? o['metadata']['namespace'] : undefined;
  return typeof ns === 'string' ? ns : undefined;
}

function describe(o: Obj): string {
  const ns = namespaceOf(o);
  return `${String(o['kind'])} ${ns === undefined ? '' : `${ns}/`}${nameOf(o)}`;
}
