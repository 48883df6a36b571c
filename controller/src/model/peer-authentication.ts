import type { Authorization, Match, Rule } from './core-model.ts';
import { emptyMatch } from './authorization-policy.ts';
import { selectorMatches } from './labels.ts';
import { ACCEPTED, rejected, type PolicyStatus } from './policy-status.ts';
import type { MtlsMode, PeerAuthenticationView } from './security-objects.ts';

/**
 * PeerAuthentication → L4 Authorizations, the way istiod does it for ztunnel (reference §6;
 * is:`architecture/ambient/peer-authentication.md`, is:`pilot/pkg/serviceregistry/ambient/authorization.go`).
 * ztunnel never sees PeerAuthentications: for each workload the controller works out the effective mode
 * (workload-selector PA over namespace PA over mesh-wide PA; among several at one level the oldest wins; UNSET
 * inherits) and lists, in the workload's `authorizationPolicies`, one of:
 * - `<root>/istio_converted_static_strict` — one shared DENY `notPrincipals: [presence]` (plaintext, identity-less
 *   peers are denied) when the effective mode is STRICT on every port;
 * - `<ns>/converted_peer_authentication_<name>` — generated from a workload-selector PA whose `portLevelMtls`
 *   carves exceptions out of the effective mode (it then includes the STRICT part itself);
 * - nothing, when the effective mode is PERMISSIVE on every port.
 * Names are Istio's: `_` cannot occur in Kubernetes names, so they never collide with AuthorizationPolicies.
 * DISABLE behaves as PERMISSIVE: ztunnel always offers mTLS and can only choose whether to also accept plaintext.
 */

export const STATIC_STRICT_POLICY_NAME = 'istio_converted_static_strict';
const CONVERTED_PREFIX = 'converted_peer_authentication_';

export function convertedPeerAuthenticationName(paName: string): string {
  return `${CONVERTED_PREFIX}${paName}`;
}

const PRESENCE = [{ presence: true }] as const;

function match(fields: Partial<Match>): Match {
  return { ...emptyMatch(), ...fields };
}

export function staticStrictAuthorization(rootNamespace: string): Authorization {
  return {
    name: STATIC_STRICT_POLICY_NAME,
    namespace: rootNamespace,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [match({ notPrincipals: PRESENCE })] }] }],
    dryRun: false,
  };
}

/** The PAs that decide a workload's mode, one per level (absent levels undefined). */
export interface EffectivePeerAuthentications {
  readonly mesh?: PeerAuthenticationView;
  readonly namespace?: PeerAuthenticationView;
  readonly workload?: PeerAuthenticationView;
}

function older(a: PeerAuthenticationView | undefined, b: PeerAuthenticationView): PeerAuthenticationView {
  if (a === undefined) return b;
  const [ta, tb] = [a.meta.creationTimestamp, b.meta.creationTimestamp];
  // Same-second creations tie in Kubernetes' timestamps; the name keeps the choice stable.
  if (ta !== tb) return ta < tb ? a : b;
  return a.meta.name <= b.meta.name ? a : b;
}

/**
 * Picks the deciding PAs for a workload (or, with `labels` undefined, for a namespace's non-selector level only).
 * Workload-selector PAs in the root namespace are ignored, as in Istio.
 */
export function selectPeerAuthentications(
  all: Iterable<PeerAuthenticationView>,
  namespace: string,
  labels: Readonly<Record<string, string>> | undefined,
  rootNamespace: string,
): EffectivePeerAuthentications {
  let mesh: PeerAuthenticationView | undefined;
  let ns: PeerAuthenticationView | undefined;
  let workload: PeerAuthenticationView | undefined;
  for (const pa of all) {
    const paNs = pa.meta.namespace;
    if (pa.selector === undefined) {
      if (paNs === rootNamespace) mesh = older(mesh, pa);
      else if (paNs === namespace) ns = older(ns, pa);
    } else if (paNs === namespace && paNs !== rootNamespace && labels !== undefined && selectorMatches(pa.selector, labels)) {
      workload = older(workload, pa);
    }
  }
  return {
    ...(mesh === undefined ? {} : { mesh }),
    ...(ns === undefined ? {} : { namespace: ns }),
    ...(workload === undefined ? {} : { workload }),
  };
}

const isStrict = (mode: MtlsMode): boolean => mode === 'STRICT';
/** DISABLE counts as PERMISSIVE (see the file comment). */
const isPermissive = (mode: MtlsMode): boolean => mode === 'PERMISSIVE' || mode === 'DISABLE';

/** The mode a workload inherits from the namespace PA, else the mesh PA; no PA at all is PERMISSIVE. */
function parentStrict(eff: EffectivePeerAuthentications): boolean {
  if (eff.namespace !== undefined && eff.namespace.mode !== 'UNSET') return isStrict(eff.namespace.mode);
  return eff.mesh !== undefined && isStrict(eff.mesh.mode);
}

/** Ports whose mode differs from the workload PA's effective top-level mode. */
function portExceptions(workload: PeerAuthenticationView, baseStrict: boolean): readonly number[] {
  return workload.portLevelMtls.filter((p) => (baseStrict ? isPermissive(p.mode) : isStrict(p.mode))).map((p) => p.port);
}

function baseStrictOf(workload: PeerAuthenticationView, eff: EffectivePeerAuthentications): boolean {
  return workload.mode === 'UNSET' ? parentStrict(eff) : isStrict(workload.mode);
}

/** The generated Authorization keys (`ns/name`) a workload must reference for its effective PA mode. */
export function peerAuthenticationKeys(eff: EffectivePeerAuthentications, rootNamespace: string): string[] {
  const staticKey = `${rootNamespace}/${STATIC_STRICT_POLICY_NAME}`;
  const wl = eff.workload;
  if (wl === undefined) return parentStrict(eff) ? [staticKey] : [];
  const baseStrict = baseStrictOf(wl, eff);
  if (portExceptions(wl, baseStrict).length > 0) {
    return [`${wl.meta.namespace}/${convertedPeerAuthenticationName(wl.meta.name)}`];
  }
  return baseStrict ? [staticKey] : [];
}

/**
 * The Authorization generated for a workload-selector PA with port exceptions, given its namespace's and the mesh's
 * PAs (`parents`, from selectPeerAuthentications with no labels). Undefined when the PA needs none.
 * Strict with permissive ports: deny when the peer has no identity AND the port is none of the exceptions (one
 * clause per port, as istiod lays it out). Permissive with strict ports: one rule per port, deny identity-less peers
 * on that port.
 */
export function convertPeerAuthentication(
  pa: PeerAuthenticationView,
  parents: EffectivePeerAuthentications,
  rootNamespace: string,
): Authorization | undefined {
  if (pa.selector === undefined || pa.meta.namespace === rootNamespace) return undefined;
  const baseStrict = baseStrictOf(pa, parents);
  const ports = portExceptions(pa, baseStrict);
  if (ports.length === 0) return undefined;
  const rules: Rule[] = baseStrict
    ? [
        {
          clauses: [
            { matches: [match({ notPrincipals: PRESENCE })] },
            ...ports.map((p) => ({ matches: [match({ notDestinationPorts: [p] })] })),
          ],
        },
      ]
    : ports.map((p) => ({ clauses: [{ matches: [match({ notPrincipals: PRESENCE, destinationPorts: [p] })] }] }));
  return {
    name: convertedPeerAuthenticationName(pa.meta.name),
    namespace: pa.meta.namespace,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules,
    dryRun: false,
  };
}

export function peerAuthenticationStatus(pa: PeerAuthenticationView, rootNamespace: string): PolicyStatus {
  if (pa.selector !== undefined && pa.meta.namespace === rootNamespace) {
    return rejected('UnsupportedValue', 'a PeerAuthentication with a selector in the root namespace selects nothing; it is ignored');
  }
  const notes: string[] = [];
  const ignoredFields: string[] = [];
  if (pa.selector === undefined && pa.portLevelMtls.length > 0) {
    ignoredFields.push('portLevelMtls');
    notes.push('portLevelMtls applies only to a PeerAuthentication with a selector; it is ignored.');
  }
  if (pa.mode === 'DISABLE' || pa.portLevelMtls.some((p) => p.mode === 'DISABLE')) {
    notes.push('ztunnel cannot disable mTLS: DISABLE is treated as PERMISSIVE.');
  }
  if (notes.length === 0) return ACCEPTED;
  return { accepted: true, reason: 'UnsupportedValue', message: notes.join(' '), ignoredFields };
}

/** The static STRICT policy exists while some PeerAuthentication that counts asks for STRICT. */
export function needsStaticStrict(all: Iterable<PeerAuthenticationView>, rootNamespace: string): boolean {
  for (const pa of all) {
    if (pa.mode === 'STRICT' && !(pa.selector !== undefined && pa.meta.namespace === rootNamespace)) return true;
  }
  return false;
}
