/** DestinationRules, retry budgets and LocalRateLimits → the waypoint's ServiceTraffic, and their status (see traffic-builder.ts). */
export { TrafficBuilder, type TrafficDelta, type TrafficOptions, type TrafficStatusUpdate } from './traffic-builder.ts';
export { createTrafficPublisher, type TrafficPublisherDeps } from './traffic-publisher.ts';
export { parseHttpFault, type HttpFaultView } from './ambit-objects.ts';
