/** Gateway API routes → the waypoint's route sets and the routes' status (see route-builder.ts). */
export { RouteBuilder, type RouteDelta, type RouteStatusUpdate } from './route-builder.ts';
export { createRoutePublisher, statusTarget, type RoutePublisherDeps } from './route-publisher.ts';
export { MESH_CONTROLLER_NAME, parseRoute, type RouteView } from './route-objects.ts';
