import type { RouteSet } from './types.ts';

const encoder = new TextEncoder();

/** The xDS body of a route set: UTF-8 JSON (see ROUTE_SET_TYPE_URL). */
export function encodeRouteSet(set: RouteSet): Uint8Array {
  return encoder.encode(JSON.stringify(set));
}

// decodeRouteSet(name, bytes): RouteSet — parses and checks every field with FieldReader, throwing a FieldError that
// names the resource and field (the xDS client NACKs with it). Written with the waypoint's state (issue 13).
export declare function decodeRouteSet(name: string, bytes: Uint8Array): RouteSet;
