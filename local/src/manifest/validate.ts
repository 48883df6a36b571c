import { isIPv4 } from 'node:net';
import { describeValue, FieldReader } from '@ambit/core';
import type { FieldError } from '../kube/types.ts';
import { isDnsLabel, isDnsSubdomain } from '../kube/dns-names.ts';
import { readContainerProbes } from '../cluster/probe-spec.ts';
import { readDeploymentStrategy } from '../cluster/rollout-strategy.ts';

/** The reader validation uses: it records every problem and goes on, so a user sees all mistakes at once. */
type Checker = FieldReader<undefined>;

/** Missing (`undefined`, or `null` as YAML writes an empty key). */
const absent = (v: unknown): boolean => v === undefined || v === null;

/**
 * Field validation of the kinds the local runtime acts on (Pods, Deployments, Services, Namespaces), plus the
 * envelope every object needs. Other kinds are stored as given: their meaning belongs to the controller, which
 * reports problems in their status, as in a real cluster.
 */
export function validateObject(obj: unknown): FieldError[] {
  const c = FieldReader.collecting();
  const o = c.record(obj, '');
  if (o === undefined) return c.problems;
  const apiVersion = c.name(o['apiVersion'], 'apiVersion');
  const kind = c.name(o['kind'], 'kind');
  const meta = c.record(o['metadata'], 'metadata');
  if (meta !== undefined) checkMetadata(c, meta, kind === 'Namespace', apiVersion?.startsWith('rbac.authorization.k8s.io/') === true);
  if (c.problems.length > 0) return c.problems;
  switch (`${apiVersion}/${kind}`) {
    case 'v1/Pod':
      checkPodSpec(c, 'spec', o['spec']);
      break;
    case 'apps/v1/Deployment':
      checkWorkload(c, o, true);
      break;
    case 'apps/v1/DaemonSet':
      checkWorkload(c, o, false);
      break;
    case 'v1/Service':
      checkService(c, o['spec']);
      break;
    default:
      break;
  }
  return c.problems;
}

/** `rbacName`: RBAC objects are named by any path segment (`system:discovery`), as kube-apiserver's ValidateRBACName. */
function checkMetadata(c: Checker, meta: Record<string, unknown>, isNamespace: boolean, rbacName: boolean): void {
  const name = c.optString(meta['name'], 'metadata.name');
  const generateName = c.optString(meta['generateName'], 'metadata.generateName');
  if (name === undefined && generateName === undefined) c.fail('metadata.name', 'required');
  if (name !== undefined && rbacName) {
    if (name === '.' || name === '..' || /[/%]/.test(name))
      c.fail('metadata.name', `"${name}" must be a path segment (no '/' or '%', not '.' or '..')`);
  } else if (name !== undefined) {
    const ok = isNamespace ? isDnsLabel(name) : isDnsSubdomain(name);
    if (!ok) {
      c.fail('metadata.name', `"${name}" must be a lower-case RFC 1123 ${isNamespace ? 'label' : 'subdomain'}`);
    }
  }
  const ns = c.optString(meta['namespace'], 'metadata.namespace');
  if (ns !== undefined && !isDnsLabel(ns)) c.fail('metadata.namespace', `"${ns}" must be a lower-case RFC 1123 label`);
  c.optStringMap(meta['labels'], 'metadata.labels');
  c.optStringMap(meta['annotations'], 'metadata.annotations');
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];

export function checkPodSpec(c: Checker, path: string, v: unknown, restartPolicies = RESTART_POLICIES): void {
  const spec = c.record(v, path);
  if (spec === undefined) return;
  const containers = c.array(spec['containers'], `${path}.containers`);
  if (containers !== undefined && containers.length === 0) c.fail(`${path}.containers`, 'must hold at least one container');
  const names = new Set<string>();
  containers?.forEach((item, i) => {
    const cp = `${path}.containers[${i}]`;
    const ctr = c.record(item, cp);
    if (ctr === undefined) return;
    const name = c.string(ctr['name'], `${cp}.name`);
    if (name !== undefined) {
      if (!isDnsLabel(name)) c.fail(`${cp}.name`, `"${name}" must be a lower-case RFC 1123 label`);
      if (names.has(name)) c.fail(`${cp}.name`, `duplicate container name "${name}"`);
      names.add(name);
    }
    const command = c.optStrings(ctr['command'], `${cp}.command`);
    const args = c.optStrings(ctr['args'], `${cp}.args`);
    // Images are not run in local mode: the process comes from command/args alone.
    if (ctr['command'] === undefined && ctr['args'] === undefined) {
      c.fail(`${cp}.command`, 'required in local mode (images are not pulled or run; give the program to start)');
    } else if (!absent(ctr['command']) && command?.length === 0 && (args?.length ?? 0) === 0) {
      c.fail(`${cp}.command`, 'must not be empty');
    }
    c.optString(ctr['workingDir'], `${cp}.workingDir`);
    checkEnv(c, `${cp}.env`, ctr['env']);
    c.optArray(ctr['ports'], `${cp}.ports`)?.forEach((p, j) => {
      const pp = `${cp}.ports[${j}]`;
      const port = c.record(p, pp);
      if (port === undefined) return;
      if (port['containerPort'] === undefined) c.fail(`${pp}.containerPort`, 'required');
      c.optInteger(port['containerPort'], `${pp}.containerPort`, 1, 65535);
      const pname = c.optString(port['name'], `${pp}.name`);
      if (pname !== undefined && !isPortName(pname)) c.fail(`${pp}.name`, `"${pname}" must be an IANA service name (≤15 lower-case chars)`);
      c.optOneOf(port['protocol'], `${pp}.protocol`, ['TCP', 'UDP', 'SCTP']);
    });
    readContainerProbes(c, ctr, cp);
  });
  c.optOneOf(spec['restartPolicy'], `${path}.restartPolicy`, restartPolicies);
  c.optString(spec['nodeName'], `${path}.nodeName`);
  c.optString(spec['serviceAccountName'], `${path}.serviceAccountName`);
  c.optInteger(spec['terminationGracePeriodSeconds'], `${path}.terminationGracePeriodSeconds`, 0, 3600);
}

function checkEnv(c: Checker, path: string, v: unknown): void {
  c.optArray(v, path)?.forEach((item, i) => {
    const ep = `${path}[${i}]`;
    const env = c.record(item, ep);
    if (env === undefined) return;
    c.string(env['name'], `${ep}.name`);
    c.optString(env['value'], `${ep}.value`);
    const from = c.optRecord(env['valueFrom'], `${ep}.valueFrom`);
    if (from !== undefined) {
      const ref = c.record(from['fieldRef'], `${ep}.valueFrom.fieldRef`);
      if (ref !== undefined) c.optOneOf(ref['fieldPath'], `${ep}.valueFrom.fieldRef.fieldPath`, FIELD_REF_PATHS);
    }
  });
}

/** Downward-API paths the local runtime fills in (a subset of Kubernetes'). */
export const FIELD_REF_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.podIP',
  'status.hostIP',
];

/** Deployments and DaemonSets: selector, template labels that match it, a pod spec whose pods keep running. */
function checkWorkload(c: Checker, o: Record<string, unknown>, hasReplicas: boolean): void {
  const spec = c.record(o['spec'], 'spec');
  if (spec === undefined) return;
  if (hasReplicas) {
    c.optInteger(spec['replicas'], 'spec.replicas', 0, 1000);
    readDeploymentStrategy(c, spec);
  }
  const selector = c.record(spec['selector'], 'spec.selector');
  const matchLabels = selector === undefined ? undefined : stringMapIfSet(c, selector['matchLabels'], 'spec.selector.matchLabels');
  if (selector !== undefined && (matchLabels === undefined || Object.keys(matchLabels).length === 0)) {
    if (!c.problems.some((e) => e.field.startsWith('spec.selector'))) {
      c.fail('spec.selector.matchLabels', 'required (matchExpressions are not supported in local mode)');
    }
  }
  const template = c.record(spec['template'], 'spec.template');
  if (template === undefined) return;
  const tmeta = c.record(template['metadata'], 'spec.template.metadata');
  const labels = tmeta === undefined ? undefined : stringMapIfSet(c, tmeta['labels'], 'spec.template.metadata.labels');
  if (matchLabels !== undefined && labels !== undefined) {
    for (const [k, v] of Object.entries(matchLabels)) {
      if (labels[k] !== v) {
        c.fail('spec.template.metadata.labels', `must match spec.selector.matchLabels (${k}=${v} missing)`);
        break;
      }
    }
  } else if (matchLabels !== undefined && tmeta !== undefined && labels === undefined && c.problems.length === 0) {
    c.fail('spec.template.metadata.labels', 'required: must match spec.selector.matchLabels');
  }
  if (tmeta !== undefined) c.optStringMap(tmeta['annotations'], 'spec.template.metadata.annotations');
  // A Deployment's or DaemonSet's pods must keep running: Kubernetes allows only Always here.
  checkPodSpec(c, 'spec.template.spec', template['spec'], ['Always']);
}

function checkService(c: Checker, v: unknown): void {
  const spec = c.record(v, 'spec');
  if (spec === undefined) return;
  c.optOneOf(spec['type'], 'spec.type', ['ClusterIP', 'NodePort', 'LoadBalancer']);
  c.optStringMap(spec['selector'], 'spec.selector');
  const clusterIP = c.optString(spec['clusterIP'], 'spec.clusterIP');
  if (clusterIP !== undefined && clusterIP !== '' && clusterIP !== 'None' && !isServiceIp(clusterIP)) {
    c.fail('spec.clusterIP', `"${clusterIP}" must be "None" or an address in 10.96.0.0/16`);
  }
  const ports = absent(spec['ports']) ? undefined : c.array(spec['ports'], 'spec.ports');
  if (ports !== undefined && ports.length === 0 && clusterIP !== 'None') c.fail('spec.ports', 'must hold at least one port');
  const seen = new Set<string>();
  ports?.forEach((item, i) => {
    const pp = `spec.ports[${i}]`;
    const port = c.record(item, pp);
    if (port === undefined) return;
    if (port['port'] === undefined) c.fail(`${pp}.port`, 'required');
    const num = c.optInteger(port['port'], `${pp}.port`, 1, 65535);
    const proto = c.optOneOf(port['protocol'], `${pp}.protocol`, ['TCP', 'UDP', 'SCTP']) ?? 'TCP';
    const name = c.optString(port['name'], `${pp}.name`);
    if (name !== undefined && !isDnsLabel(name, 15)) c.fail(`${pp}.name`, `"${name}" must be a lower-case RFC 1123 label`);
    if (name === undefined && ports.length > 1) c.fail(`${pp}.name`, 'required when a Service has more than one port');
    const key = `${num}/${proto}`;
    if (num !== undefined && seen.has(key)) c.fail(`${pp}.port`, `duplicate port ${key}`);
    seen.add(key);
    const target = port['targetPort'];
    if (target !== undefined) {
      if (typeof target === 'string') {
        if (!isPortName(target)) c.fail(`${pp}.targetPort`, `"${target}" must be a port number or an IANA port name`);
      } else if (typeof target !== 'number' || !Number.isInteger(target) || target < 1 || target > 65535) {
        c.fail(`${pp}.targetPort`, `must be a port number from 1 to 65535 or a port name, got ${describeValue(target)}`);
      }
    }
  });
}

/** A string map (labels, selectors) as set, or undefined when not set or bad (then reported). */
function stringMapIfSet(c: Checker, v: unknown, field: string): Readonly<Record<string, string>> | undefined {
  return absent(v) ? undefined : c.optStringMap(v, field);
}

function isPortName(s: string): boolean {
  return s.length <= 15 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s);
}

const SERVICE_CIDR_PREFIX = '10.96.';

export function isServiceIp(ip: string): boolean {
  return isIPv4(ip) && ip.startsWith(SERVICE_CIDR_PREFIX);
}
