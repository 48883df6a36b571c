/**
 * DestinationRules and `ambit.dev` objects for the traffic tests, as a watch delivers them (STYLE rule 20): plain JSON
 * through the same parsing as production. Defaults: namespace `demo`, created 2026-01-01T00:00:00Z, generation 1.
 */
import { NS } from './kube-objects.ts';

export interface PolicyOptions {
  readonly ns?: string;
  readonly created?: string;
  readonly generation?: number;
  readonly apiVersion?: string;
}

function object(apiVersion: string, kind: string, name: string, spec: Record<string, unknown>, o: PolicyOptions): Record<string, unknown> {
  return {
    apiVersion: o.apiVersion ?? apiVersion,
    kind,
    metadata: {
      name,
      namespace: o.ns ?? NS,
      creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
      generation: o.generation ?? 1,
    },
    spec,
  };
}

export function destinationRule(name: string, spec: Record<string, unknown>, o: PolicyOptions = {}): Record<string, unknown> {
  return object('networking.istio.io/v1', 'DestinationRule', name, spec, o);
}

export function localRateLimit(name: string, spec: Record<string, unknown>, o: PolicyOptions = {}): Record<string, unknown> {
  return object('ambit.dev/v1alpha1', 'LocalRateLimit', name, spec, o);
}

export function httpFault(name: string, spec: Record<string, unknown>, o: PolicyOptions = {}): Record<string, unknown> {
  return object('ambit.dev/v1alpha1', 'HTTPFault', name, spec, o);
}

/** A LocalRateLimit spec targeting Service `service`. */
export function rateLimitSpec(service: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { targetRef: { group: '', kind: 'Service', name: service }, ...extra };
}
