import { isIPv4 } from 'node:net';
import type { FieldError } from '../kube/types.ts';
import { FieldChecker, describe, isDnsLabel, isDnsSubdomain } from './fields.ts';

/**
 * Field validation of the kinds the local runtime acts on (Pods, Deployments, Services, Namespaces), plus the
 * envelope every object needs. Other kinds are stored as given: their meaning belongs to the controller, which
 * reports problems in their status, as in a real cluster.
 */
export function validateObject(obj: unknown): FieldError[] {
  const c = new FieldChecker();
  const o = c.record('', obj, true);
  if (o === undefined) return c.errors;
  const apiVersion = c.string('apiVersion', o['apiVersion'], true);
  const kind = c.string('kind', o['kind'], true);
  if (apiVersion === '') c.fail('apiVersion', 'must not be empty');
  if (kind === '') c.fail('kind', 'must not be empty');
  const meta = c.record('metadata', o['metadata'], true);
  if (meta !== undefined) checkMetadata(c, meta, kind === 'Namespace');
  if (c.errors.length > 0) return c.errors;
  switch (`${apiVersion}/${kind}`) {
    case 'v1/Pod':
      checkPodSpec(c, 'spec', o['spec']);
      break;
    case 'apps/v1/Deployment':
      checkDeployment(c, o);
      break;
    case 'v1/Service':
      checkService(c, o['spec']);
      break;
    default:
      break;
  }
  return c.errors;
}

function checkMetadata(c: FieldChecker, meta: Record<string, unknown>, isNamespace: boolean): void {
  const name = c.string('metadata.name', meta['name']);
  const generateName = c.string('metadata.generateName', meta['generateName']);
  if (name === undefined && generateName === undefined) c.fail('metadata.name', 'required');
  if (name !== undefined) {
    const ok = isNamespace ? isDnsLabel(name) : isDnsSubdomain(name);
    if (!ok) {
      c.fail('metadata.name', `"${name}" must be a lower-case RFC 1123 ${isNamespace ? 'label' : 'subdomain'}`);
    }
  }
  const ns = c.string('metadata.namespace', meta['namespace']);
  if (ns !== undefined && !isDnsLabel(ns)) c.fail('metadata.namespace', `"${ns}" must be a lower-case RFC 1123 label`);
  c.stringMap('metadata.labels', meta['labels']);
  c.stringMap('metadata.annotations', meta['annotations']);
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];

export function checkPodSpec(c: FieldChecker, path: string, v: unknown, restartPolicies = RESTART_POLICIES): void {
  const spec = c.record(path, v, true);
  if (spec === undefined) return;
  const containers = c.array(`${path}.containers`, spec['containers'], true);
  if (containers !== undefined && containers.length === 0) c.fail(`${path}.containers`, 'must hold at least one container');
  const names = new Set<string>();
  containers?.forEach((item, i) => {
    const cp = `${path}.containers[${i}]`;
    const ctr = c.record(cp, item, true);
    if (ctr === undefined) return;
    const name = c.string(`${cp}.name`, ctr['name'], true);
    if (name !== undefined) {
      if (!isDnsLabel(name)) c.fail(`${cp}.name`, `"${name}" must be a lower-case RFC 1123 label`);
      if (names.has(name)) c.fail(`${cp}.name`, `duplicate container name "${name}"`);
      names.add(name);
    }
    const command = c.stringList(`${cp}.command`, ctr['command']);
    const args = c.stringList(`${cp}.args`, ctr['args']);
    // Images are not run in local mode: the process comes from command/args alone.
    if (ctr['command'] === undefined && ctr['args'] === undefined) {
      c.fail(`${cp}.command`, 'required in local mode (images are not pulled or run; give the program to start)');
    } else if ((command?.length ?? 0) + (args?.length ?? 0) === 0 && command !== undefined) {
      c.fail(`${cp}.command`, 'must not be empty');
    }
    c.string(`${cp}.workingDir`, ctr['workingDir']);
    checkEnv(c, `${cp}.env`, ctr['env']);
    c.array(`${cp}.ports`, ctr['ports'])?.forEach((p, j) => {
      const pp = `${cp}.ports[${j}]`;
      const port = c.record(pp, p, true);
      if (port === undefined) return;
      if (port['containerPort'] === undefined) c.fail(`${pp}.containerPort`, 'required');
      c.integer(`${pp}.containerPort`, port['containerPort'], 1, 65535);
      const pname = c.string(`${pp}.name`, port['name']);
      if (pname !== undefined && !isPortName(pname)) c.fail(`${pp}.name`, `"${pname}" must be an IANA service name (≤15 lower-case chars)`);
      c.oneOf(`${pp}.protocol`, port['protocol'], ['TCP', 'UDP', 'SCTP']);
    });
  });
  c.oneOf(`${path}.restartPolicy`, spec['restartPolicy'], restartPolicies);
  c.string(`${path}.nodeName`, spec['nodeName']);
  c.string(`${path}.serviceAccountName`, spec['serviceAccountName']);
  c.integer(`${path}.terminationGracePeriodSeconds`, spec['terminationGracePeriodSeconds'], 0, 3600);
}

function checkEnv(c: FieldChecker, path: string, v: unknown): void {
  c.array(path, v)?.forEach((item, i) => {
    const ep = `${path}[${i}]`;
    const env = c.record(ep, item, true);
    if (env === undefined) return;
    c.string(`${ep}.name`, env['name'], true);
    if (env['value'] !== undefined) c.string(`${ep}.value`, env['value']);
    const from = c.record(`${ep}.valueFrom`, env['valueFrom']);
    if (from !== undefined) {
      const ref = c.record(`${ep}.valueFrom.fieldRef`, from['fieldRef'], true);
      if (ref !== undefined) c.oneOf(`${ep}.valueFrom.fieldRef.fieldPath`, ref['fieldPath'], FIELD_REF_PATHS);
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

function checkDeployment(c: FieldChecker, o: Record<string, unknown>): void {
  const spec = c.record('spec', o['spec'], true);
  if (spec === undefined) return;
  c.integer('spec.replicas', spec['replicas'], 0, 1000);
  const selector = c.record('spec.selector', spec['selector'], true);
  const matchLabels = selector === undefined ? undefined : c.stringMap('spec.selector.matchLabels', selector['matchLabels']);
  if (selector !== undefined && (matchLabels === undefined || Object.keys(matchLabels).length === 0)) {
    if (!c.errors.some((e) => e.field.startsWith('spec.selector'))) {
      c.fail('spec.selector.matchLabels', 'required (matchExpressions are not supported in local mode)');
    }
  }
  const template = c.record('spec.template', spec['template'], true);
  if (template === undefined) return;
  const tmeta = c.record('spec.template.metadata', template['metadata'], true);
  const labels = tmeta === undefined ? undefined : c.stringMap('spec.template.metadata.labels', tmeta['labels']);
  if (matchLabels !== undefined && labels !== undefined) {
    for (const [k, v] of Object.entries(matchLabels)) {
      if (labels[k] !== v) {
        c.fail('spec.template.metadata.labels', `must match spec.selector.matchLabels (${k}=${v} missing)`);
        break;
      }
    }
  } else if (matchLabels !== undefined && tmeta !== undefined && labels === undefined && !c.errors.length) {
    c.fail('spec.template.metadata.labels', 'required: must match spec.selector.matchLabels');
  }
  if (tmeta !== undefined) c.stringMap('spec.template.metadata.annotations', tmeta['annotations']);
  // A Deployment's pods must keep running: Kubernetes allows only Always here.
  checkPodSpec(c, 'spec.template.spec', template['spec'], ['Always']);
}

function checkService(c: FieldChecker, v: unknown): void {
  const spec = c.record('spec', v, true);
  if (spec === undefined) return;
  c.oneOf('spec.type', spec['type'], ['ClusterIP', 'NodePort', 'LoadBalancer']);
  c.stringMap('spec.selector', spec['selector']);
  const clusterIP = c.string('spec.clusterIP', spec['clusterIP']);
  if (clusterIP !== undefined && clusterIP !== '' && clusterIP !== 'None' && !isServiceIp(clusterIP)) {
    c.fail('spec.clusterIP', `"${clusterIP}" must be "None" or an address in 10.96.0.0/16`);
  }
  const ports = c.array('spec.ports', spec['ports']);
  if (ports !== undefined && ports.length === 0 && clusterIP !== 'None') c.fail('spec.ports', 'must hold at least one port');
  const seen = new Set<string>();
  ports?.forEach((item, i) => {
    const pp = `spec.ports[${i}]`;
    const port = c.record(pp, item, true);
    if (port === undefined) return;
    if (port['port'] === undefined) c.fail(`${pp}.port`, 'required');
    const num = c.integer(`${pp}.port`, port['port'], 1, 65535);
    const proto = c.oneOf(`${pp}.protocol`, port['protocol'], ['TCP', 'UDP', 'SCTP']) ?? 'TCP';
    const name = c.string(`${pp}.name`, port['name']);
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
        c.fail(`${pp}.targetPort`, `must be a port number from 1 to 65535 or a port name, got ${describe(target)}`);
      }
    }
  });
}

function isPortName(s: string): boolean {
  return s.length <= 15 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s);
}

const SERVICE_CIDR_PREFIX = '10.96.';

export function isServiceIp(ip: string): boolean {
  return isIPv4(ip) && ip.startsWith(SERVICE_CIDR_PREFIX);
}
