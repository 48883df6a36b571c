/** Everything the controller needs to start; main.ts fills it from flags and the environment, nothing else reads env. */
export interface ControllerConfig {
  /** Path of a kubeconfig; undefined = in-cluster service account. */
  readonly kubeconfig: string | undefined;
  /** This replica's name for leader election. */
  readonly identity: string;
  readonly trustDomain: string;
  readonly clusterId: string;
  /** Namespace of Ambit's own objects (Lease, CA Secret) and mesh-wide policies. */
  readonly systemNamespace: string;
  /** gRPC (xDS + CA): a unix socket (local mode, no TLS) or a TCP port with TLS from the mesh CA (cluster: 15012). */
  readonly grpc: { readonly socketPath: string } | { readonly host: string; readonly port: number };
  /** Debug and readiness (/ready): a unix socket (local runner) or a TCP port on `host` (default 127.0.0.1). */
  readonly debug: { readonly socketPath?: string; readonly port?: number; readonly host?: string };
  /** Where the CA root lives: a directory (local mode) or the `ambit-ca` Secret. */
  readonly caStore: { readonly kind: 'file'; readonly dir: string } | { readonly kind: 'secret' };
  /** How CA callers authenticate: per-node credentials (local mode) or Kubernetes TokenReview. */
  readonly caAuth:
    | { readonly kind: 'node-credentials'; readonly file: string }
    | { readonly kind: 'token-review'; readonly audience: string; readonly trustedAccounts: readonly string[] };
  /** Default workload certificate TTL and the most a caller may ask for. */
  readonly certTtlSeconds: number;
  readonly maxCertTtlSeconds: number;
  readonly logLevel: string;
  /** How waypoint Deployments run the waypoint (contract 3). */
  readonly waypoint: WaypointConfig;
}

export interface WaypointConfig {
  /** Container image of cluster waypoints (`--waypoint-image`); default `ghcr.io/ambit-dev/ambit:<version>`. */
  readonly image: string;
  /**
   * Local mode (`--waypoint-command '<JSON argv>'`): the argv that runs the waypoint from this checkout instead of the
   * image's `ambit waypoint`, and the directory it runs in (the controller's own, where `tsx` resolves).
   */
  readonly command?: { readonly argv: readonly string[]; readonly workingDir: string };
}
