// What proxies report through, shared by ztunnel and the waypoint: Istio's traffic labels, the `istio_tcp_*` counters,
// and the small HTTP servers of their own ports (metrics, readiness, admin). Imported as `@ambit/core/telemetry`
// (it loads prom-client, which the CNI plugin and the controller do not need).
export { TRAFFIC_LABELS, trafficLabels, type ConnectionLabelsInput, type TrafficLabels } from './traffic-labels.ts';
export { createTcpMetrics, type ConnectionMetrics, type TcpMetrics } from './tcp-metrics.ts';
export { closeServer, startHttpServer, type Handler } from './http-servers.ts';
