import { AmbitError, asRecord, isRecord } from '@ambit/core';
import type { FieldError, KubeObject } from '../kube/types.ts';
import { validateObject, isServiceIp } from '../manifest/validate.ts';
import { admitServiceAccount } from './serviceaccount-admission.ts';
import { defaultProbes } from './probe-spec.ts';
import type { StoreView } from './store-view.ts';

export type AdmissionOp = 'CREATE' | 'UPDATE';

/** Thrown by an admission step; the API turns it into a 422 Invalid Status with the field causes. */
export class AdmissionError extends AmbitError {
  constructor(
    readonly causes: readonly FieldError[],
    readonly conflict = false,
  ) {
    super('ADMISSION_REJECTED', causes.map((c) => `${c.field}: ${c.message}`).join('; '));
  }
}

/**
 * The local cluster's admission chain, in the order the real API server would apply it: defaulting (incl. the
 * scheduler's node choice, done here rather than by a separate bind because nothing in local mode competes for
 * nodes), validation, then the Service IP allocator.
 */
export interface AdmissionOptions {
  /**
   * Run the ServiceAccount admission plugin (serviceaccount-admission.ts): pods must name an existing ServiceAccount
   * and get the `kube-api-access-*` token volume. Default false: only a cluster whose kubelets can issue tokens
   * turns it on.
   */
  readonly serviceAccountTokens?: boolean;
}

export function createAdmission(view: () => StoreView, nodeNames: readonly string[], options: AdmissionOptions = {}) {
  let nextNode = 0;
  return (op: AdmissionOp, obj: KubeObject, old: KubeObject | undefined): void => {
    if (obj.apiVersion === 'v1' && obj.kind === 'Pod' && op === 'CREATE') {
      defaultPod(obj);
      if (options.serviceAccountTokens === true) admitServiceAccount(view(), obj);
      const spec = asRecord(obj['spec']);
      if (typeof spec['nodeName'] !== 'string' || spec['nodeName'] === '') {
        spec['nodeName'] = nodeNames[nextNode % nodeNames.length];
        nextNode++;
      } else if (!nodeNames.includes(spec['nodeName'])) {
        throw new AdmissionError([
          { field: 'spec.nodeName', message: `node "${spec['nodeName']}" does not exist (nodes: ${nodeNames.join(', ')})` },
        ]);
      }
    }
    const errors = validateObject(obj);
    if (errors.length > 0) throw new AdmissionError(errors);
    if (obj.apiVersion === 'v1' && obj.kind === 'Service') allocateClusterIp(view(), op, obj, old);
  };
}

function defaultPod(pod: KubeObject): void {
  const spec = asRecord(pod['spec']);
  pod['spec'] = spec;
  spec['serviceAccountName'] ??= spec['serviceAccount'] ?? 'default';
  spec['serviceAccount'] ??= spec['serviceAccountName'];
  spec['restartPolicy'] ??= 'Always';
  spec['terminationGracePeriodSeconds'] ??= 30;
  defaultProbes(spec);
  if (!isRecord(pod['status'])) pod['status'] = { phase: 'Pending' };
}

const FIRST_SERVICE_HOST = 10; // 10.96.0.1 is the kubernetes Service in a real cluster; leave the low ones free

function allocateClusterIp(view: StoreView, op: AdmissionOp, svc: KubeObject, old: KubeObject | undefined): void {
  const spec = asRecord(svc['spec']);
  svc['spec'] = spec;
  spec['type'] ??= 'ClusterIP';
  if (op === 'UPDATE' && old !== undefined) {
    const oldIp = asRecord(old['spec'])['clusterIP'];
    if (spec['clusterIP'] === undefined || spec['clusterIP'] === '') spec['clusterIP'] = oldIp;
    else if (spec['clusterIP'] !== oldIp) {
      throw new AdmissionError([{ field: 'spec.clusterIP', message: 'field is immutable' }]);
    }
  } else {
    const wanted = spec['clusterIP'];
    const used = new Set<string>();
    for (const s of view.list('Service')) {
      const ip = asRecord(s['spec'])['clusterIP'];
      if (typeof ip === 'string') used.add(ip);
    }
    if (typeof wanted === 'string' && wanted !== '') {
      if (wanted !== 'None' && used.has(wanted)) {
        throw new AdmissionError([{ field: 'spec.clusterIP', message: `provided IP ${wanted} is already allocated` }]);
      }
    } else {
      spec['clusterIP'] = firstFree(used);
    }
  }
  const ip = spec['clusterIP'];
  spec['clusterIPs'] = [ip];
  if (ip !== 'None') {
    spec['ipFamilies'] = ['IPv4'];
    spec['ipFamilyPolicy'] = 'SingleStack';
  }
  const ports = Array.isArray(spec['ports']) ? spec['ports'] : [];
  for (const p of ports) {
    if (!isRecord(p)) continue;
    p['protocol'] ??= 'TCP';
    p['targetPort'] ??= p['port'];
  }
}

function firstFree(used: ReadonlySet<string>): string {
  for (let n = FIRST_SERVICE_HOST; n < 65534; n++) {
    const ip = `10.96.${n >> 8}.${n & 255}`;
    if (!used.has(ip) && isServiceIp(ip)) return ip;
  }
  throw new AdmissionError([{ field: 'spec.clusterIP', message: 'the service range 10.96.0.0/16 is exhausted' }]);
}
