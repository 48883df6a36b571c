import { isRecord, type FieldReader } from '@ambit/core';

/**
 * A container's probes (`readinessProbe`, `livenessProbe`, `startupProbe`) read into domain types once, with
 * Kubernetes' defaults (`SetDefaults_Probe`, `SetDefaults_HTTPGetAction`) and its validation rules (`validateProbe`
 * in pkg/apis/core/validation): exactly one handler, non-negative timings, `successThreshold` 1 for liveness and
 * startup probes. https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#Probe
 */

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

/** The field of a container that holds each kind. */
export const PROBE_FIELDS: Readonly<Record<ProbeKind, string>> = {
  readiness: 'readinessProbe',
  liveness: 'livenessProbe',
  startup: 'startupProbe',
};

export interface HttpHeader {
  readonly name: string;
  readonly value: string;
}

export type ProbeHandler =
  | {
      readonly type: 'httpGet';
      /** Default `/`. */
      readonly path: string;
      /** A number, or the name of one of the container's ports. */
      readonly port: number | string;
      /** Default: the pod's IP. */
      readonly host?: string;
      readonly scheme: 'HTTP' | 'HTTPS';
      readonly headers: readonly HttpHeader[];
    }
  | { readonly type: 'tcpSocket'; readonly port: number | string; readonly host?: string }
  | { readonly type: 'exec'; readonly command: readonly string[] }
  /** grpc.health.v1 Check; `service` "" asks for the server's overall health. */
  | { readonly type: 'grpc'; readonly port: number; readonly service: string };

export interface ProbeSpec {
  readonly kind: ProbeKind;
  readonly handler: ProbeHandler;
  /** Seconds after the container started before the first probe; default 0. */
  readonly initialDelaySeconds: number;
  /** Default 10. */
  readonly periodSeconds: number;
  /** Default 1. */
  readonly timeoutSeconds: number;
  /** Consecutive successes to count as success after a failure; default 1 (must be 1 for liveness and startup). */
  readonly successThreshold: number;
  /** Consecutive failures to count as failure; default 3. */
  readonly failureThreshold: number;
  /** Grace period for a kill after this probe failed; default the pod's terminationGracePeriodSeconds. */
  readonly terminationGracePeriodSeconds?: number;
}

export interface ContainerProbes {
  readonly readiness?: ProbeSpec;
  readonly liveness?: ProbeSpec;
  readonly startup?: ProbeSpec;
}

type Checker = FieldReader<undefined>;

const MAX_INT32 = 2_147_483_647;

/** IANA_SVC_NAME, as a named port must be (≤ 15 chars, lower-case alphanumerics and '-', a letter in it). */
function isPortName(s: string): boolean {
  return s.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--');
}

function portOrName(c: Checker, v: unknown, field: string): number | string | undefined {
  if (v === undefined || v === null) return c.fail(field, 'required (must be a port number or a port name)');
  const p = c.optIntOrString(v, field);
  if (typeof p === 'string' && !isPortName(p)) return c.fail(field, `"${p}" must be a port number from 1 to 65535 or an IANA port name`);
  return p;
}

function readHandler(c: Checker, probe: Record<string, unknown>, path: string): ProbeHandler | undefined {
  const present = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (present.length === 0) return c.fail(path, 'must specify a handler type (exec, httpGet, tcpSocket or grpc)');
  if (present.length > 1) return c.fail(`${path}.${present[1] ?? ''}`, 'may not specify more than 1 handler type');
  const type = present[0];
  const hp = `${path}.${type ?? ''}`;
  const h = c.record(probe[type ?? ''], hp);
  if (h === undefined) return undefined;
  switch (type) {
    case 'exec': {
      const command = c.optStrings(h['command'], `${hp}.command`);
      if (command === undefined) return undefined;
      if (command.length === 0) return c.fail(`${hp}.command`, 'required (must be a non-empty list of strings)');
      return { type, command };
    }
    case 'httpGet': {
      const port = portOrName(c, h['port'], `${hp}.port`);
      const rawPath = c.optString(h['path'], `${hp}.path`);
      const host = c.optString(h['host'], `${hp}.host`);
      const scheme = c.optOneOf(h['scheme'], `${hp}.scheme`, ['HTTP', 'HTTPS'] as const) ?? 'HTTP';
      const headers: HttpHeader[] = [];
      c.optArray(h['httpHeaders'], `${hp}.httpHeaders`)?.forEach((item, i) => {
        const ip = `${hp}.httpHeaders[${i}]`;
        const hdr = c.record(item, ip);
        if (hdr === undefined) return;
        const name = c.name(hdr['name'], `${ip}.name`);
        const value = c.string(hdr['value'], `${ip}.value`);
        if (name !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name))
          c.fail(`${ip}.name`, `"${name}" must be an HTTP header name`);
        else if (name !== undefined && value !== undefined) headers.push({ name, value });
      });
      if (port === undefined) return undefined;
      const path = rawPath === undefined || rawPath === '' ? '/' : rawPath;
      return { type, path, port, scheme, headers, ...(host === undefined || host === '' ? {} : { host }) };
    }
    case 'tcpSocket': {
      const port = portOrName(c, h['port'], `${hp}.port`);
      const host = c.optString(h['host'], `${hp}.host`);
      if (port === undefined) return undefined;
      return { type, port, ...(host === undefined || host === '' ? {} : { host }) };
    }
    case 'grpc': {
      // GRPCAction.port is an int32 (no port names), as in Kubernetes.
      const port = c.port(h['port'], `${hp}.port`);
      const service = c.optString(h['service'], `${hp}.service`) ?? '';
      if (port === undefined) return undefined;
      return { type, port, service };
    }
    default:
      return undefined;
  }
}

/** Reads one probe with its defaults; problems go to `c` (a collecting reader) and the probe is then undefined. */
export function readProbe(c: Checker, kind: ProbeKind, v: unknown, path: string): ProbeSpec | undefined {
  const probe = c.record(v, path);
  if (probe === undefined) return undefined;
  const before = c.problems.length;
  const handler = readHandler(c, probe, path);
  const int = (field: string, dflt: number, min: number): number => {
    const raw = probe[field];
    // The API server defaults a zero period, timeout or threshold to the default (SetDefaults_Probe).
    const n = c.optInteger(raw, `${path}.${field}`, 0, MAX_INT32) ?? dflt;
    if (n < min) return min === 0 ? n : dflt;
    return n;
  };
  const spec: ProbeSpec = {
    kind,
    handler: handler ?? { type: 'exec', command: [] },
    initialDelaySeconds: int('initialDelaySeconds', 0, 0),
    periodSeconds: int('periodSeconds', 10, 1),
    timeoutSeconds: int('timeoutSeconds', 1, 1),
    successThreshold: int('successThreshold', 1, 1),
    failureThreshold: int('failureThreshold', 3, 1),
  };
  if (kind !== 'readiness' && spec.successThreshold !== 1) c.fail(`${path}.successThreshold`, `must be 1, got ${spec.successThreshold}`);
  const grace = c.optInteger(probe['terminationGracePeriodSeconds'], `${path}.terminationGracePeriodSeconds`, 1, MAX_INT32);
  if (grace !== undefined && kind === 'readiness') c.fail(`${path}.terminationGracePeriodSeconds`, 'must not be set for readinessProbes');
  if (c.problems.length > before || handler === undefined) return undefined;
  return grace === undefined ? spec : { ...spec, terminationGracePeriodSeconds: grace };
}

/** The probes of one container (`path` is the container's, e.g. `spec.containers[0]`). */
export function readContainerProbes(c: Checker, container: Record<string, unknown>, path: string): ContainerProbes {
  const out: { -readonly [K in ProbeKind]?: ProbeSpec } = {};
  for (const kind of ['readiness', 'liveness', 'startup'] as const) {
    const field = PROBE_FIELDS[kind];
    const raw = container[field];
    if (raw === undefined || raw === null) continue;
    const spec = readProbe(c, kind, raw, `${path}.${field}`);
    if (spec !== undefined) out[kind] = spec;
  }
  return out;
}

/**
 * Writes the API server's probe defaults into a pod spec's containers in place (what `kubectl get pod -o yaml`
 * shows): timeoutSeconds 1, periodSeconds 10, successThreshold 1, failureThreshold 3, httpGet path `/` and scheme
 * HTTP. Malformed probes are left for validation to report.
 */
export function defaultProbes(podSpec: Record<string, unknown>): void {
  const containers = Array.isArray(podSpec['containers']) ? podSpec['containers'] : [];
  for (const ctr of containers) {
    if (!isRecord(ctr)) continue;
    for (const field of Object.values(PROBE_FIELDS)) {
      const probe = ctr[field];
      if (!isRecord(probe)) continue;
      for (const [k, v] of [
        ['timeoutSeconds', 1],
        ['periodSeconds', 10],
        ['successThreshold', 1],
        ['failureThreshold', 3],
      ] as const) {
        if (probe[k] === undefined || probe[k] === 0) probe[k] = v;
      }
      const http = probe['httpGet'];
      if (isRecord(http)) {
        if (http['path'] === undefined || http['path'] === '') http['path'] = '/';
        http['scheme'] ??= 'HTTP';
      }
    }
  }
}
