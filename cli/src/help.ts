/** Help texts, one per command: `ambitctl --help` and `ambitctl local <cmd> --help` print these. */
export const HELP: Record<string, string> = {
  root: `ambitctl — the Ambit command line

Usage:
  ambitctl install [--set KEY=VALUE]... [--dry-run] [--kubeconfig PATH]   install Ambit (deploy/ rendered, server-side apply, waits)
  ambitctl uninstall [--purge] [--kubeconfig PATH]   remove Ambit; the node agents first release every pod
  ambitctl check [--kubeconfig PATH]    pre-flight: Kubernetes version, Gateway API CRDs, nodes' CNI and kernel, permissions
  ambitctl version [--kubeconfig PATH]  client, control plane and each node's data plane versions
  ambitctl local <command> [options]    run and use an Ambit cluster on this host (network namespaces, no Kubernetes)
  ambitctl debug model [-o json]        the controller's computed model (workloads, services, authorizations)
  ambitctl policy explain --from NS/POD --to NS/POD:PORT|NS/svc/NAME:PORT [--method M --path P --header K=V]
                                        why a request is allowed or denied (waypoint L7, then ztunnel L4)
  ambitctl ztunnel-config workloads|services|policies|certificates [--node N] [-o json]   what a ztunnel believes
  ambitctl waypoint apply|generate|list|status|delete [-n NS] [--name N]   manage waypoints (istioctl's verbs)
  ambitctl waypoint-config routes|backends|endpoints|traffic [-n NS] [--name N] [-o json]   what a waypoint serves

Commands of "local":
  up          start a cluster from a directory of Kubernetes YAML
  down        stop the cluster and remove everything it created
  get         list nodes, pods or services
  exec        run a command inside a pod's network namespace
  node-exec   run a command inside a node's network namespace
  apply       create or update objects from YAML, live
  delete      delete the objects a YAML file names, live
  logs        print a pod's output
  kubeconfig  print the path of the kubeconfig for kubectl

Options for every local command:
  --name NAME   which local cluster (default "local", or $AMBIT_CLUSTER); clusters with different names coexist

Run "ambitctl local <command> --help" for a command's options.`,
  up: `Usage: ambitctl local up [-f DIR] [--nodes N] [--timeout SECONDS]

Starts a local cluster in the background, installs Ambit from deploy/overlays/local (as "kubectl apply -k" would;
the image is this checkout), applies the Kubernetes YAML in DIR (default examples/demo) and returns when Ambit is
rolled out and every pod runs. Prints nodes, pods and services. Fails with file:document:field on a bad manifest,
leaving nothing behind. Edits to files in DIR are applied live while the cluster runs.

  -f, --filename DIR   manifest directory (default examples/demo)
  --nodes N            number of nodes (default 2)
  --timeout SECONDS    how long to wait for the pods (default 60)

Environment: AMBIT_LOCAL_INSTALL=none starts the cluster without Ambit (install it yourself: "kubectl apply -k
deploy/overlays/local" or "ambitctl install"); AMBIT_ZTUNNEL_NODE_OPTIONS / AMBIT_WAYPOINT_NODE_OPTIONS add Node flags
to every ztunnel / waypoint (e.g. --cpu-prof --cpu-prof-dir=DIR).`,
  down: `Usage: ambitctl local down

Stops every pod, removes the cluster's network namespaces, processes and state. Also cleans up after a runner that
was killed.`,
  get: `Usage: ambitctl local get nodes|pods|services [-n NAMESPACE] [-o json]

  -n, --namespace NS   only this namespace (pods, services); default all
  -o, --output json    JSON: {"items":[…]} with name, namespace, node, ip (pods), clusterIP and ports (services),
                       ip (nodes)`,
  exec: `Usage: ambitctl local exec [-n NAMESPACE] POD -- COMMAND [ARGS…]

Runs COMMAND inside the pod's network namespace. stdin, stdout and stderr pass through; the exit code is the
command's.

  -n, --namespace NS   the pod's namespace (default "default")`,
  'node-exec': `Usage: ambitctl local node-exec NODE -- COMMAND [ARGS…]

Runs COMMAND inside a node's network namespace, e.g. tcpdump -i eth0 on the node-to-node link.`,
  apply: `Usage: ambitctl local apply -f PATH

Creates or updates the objects in PATH (a YAML file or a directory of them) on the running cluster. All documents
are checked first; any error (printed as file:document:field) applies nothing.`,
  delete: `Usage: ambitctl local delete -f PATH

Deletes the objects that PATH names. Pods stop within their grace period.`,
  logs: `Usage: ambitctl local logs [-n NAMESPACE] POD [-c CONTAINER] [-f]

  -c, --container C   which container (needed when the pod has several)
  -f, --follow        keep printing new output`,
  'debug-model': `Usage: ambitctl debug model [-o json] [--name NAME | --kubeconfig PATH]

Prints the mesh model the controller computed from the cluster: workloads (addresses, node, tunnel protocol,
service account, health, waypoint), services (VIPs, ports), authorizations (scope, action, rules) and the L7
authorizations waypoints enforce (targets, action, rules). -o json prints
{"workloads":[…],"services":[…],"authorizations":[…],"l7Authorizations":[…]} exactly as the controller serves it.

  --name NAME          the local cluster (default "local", or $AMBIT_CLUSTER)
  --kubeconfig PATH    a real cluster instead: read through the API server's proxy to ambit-system/ambit-controller`,
  'policy-explain': `Usage: ambitctl policy explain --from NAMESPACE/POD --to TARGET [--method M] [--path P] [--header NAME=VALUE]...
                             [-o json] [--name NAME | --kubeconfig PATH]

Explains, against the controller's current model and with the proxies' own code, why a request from a pod is
allowed or denied:
1. when a waypoint serves the destination: the L7 AuthorizationPolicies that waypoint enforces (those with
   targetRefs naming its Gateway or the Service), for the source pod's identity and the request given — the decision
   with the deciding policy and rule, e.g.
     ALLOW (waypoint demo/waypoint): GET /public/a — allowed by ALLOW policy demo/public-read rules[0]
   and for every other policy why each rule did not match (which field of which from/to/when);
2. the L4 decision of the destination pod's ztunnel (as before), where the source is the waypoint when one is in the
   path (waypoints do not impersonate the caller).
A source outside the mesh is evaluated as plaintext (no identity). -o json prints the whole explanation.

  --to NAMESPACE/POD:PORT          a pod and its port (the waypoint is in the path when the pod's workload names one)
  --to NAMESPACE/svc/SERVICE:PORT  a Service and its port, as a client addressing the Service (its waypoint, if any;
                                   the L4 step is explained for the first ready endpoint)
  --method M           the request's method (default GET)
  --path P             the request's path (default /; a query string is ignored, as policies do)
  --header NAME=VALUE  a request header (repeatable); host=… sets the Host the policies' hosts see (default: the
                       Service's hostname, or the pod's IP:PORT), x-forwarded-for=… the remote.ip
  --name NAME          the local cluster (default "local", or $AMBIT_CLUSTER)
  --kubeconfig PATH    a real cluster instead: the model is read through the API server's proxy`,
  'waypoint-config': `Usage: ambitctl waypoint-config routes|backends|endpoints|traffic [-n NAMESPACE] [--name WAYPOINT] [-o json] [--cluster NAME]

What the waypoint pods of a namespace serve, read from each pod's admin /config_dump (127.0.0.1:15000 inside the
pod's network namespace, reached with curl run in that namespace).

  routes      the route sets in use, one row per match in precedence order: the rule it picks and its backends
  backends    the Services the waypoint serves and those its routes send to, with ports and protocols
  endpoints   the ready endpoints of each backend port, with their SPIFFE identities
  traffic     the traffic policy held per Service: DestinationRule, subsets, retry budget, rate limit

  -n, --namespace NS   the waypoint's namespace (default "default")
  --name WAYPOINT      one waypoint (its Gateway name); default every waypoint in the namespace
  -o json              the dump's section per pod, as JSON
  --cluster NAME       which local cluster (default "local", or $AMBIT_CLUSTER)`,
  'ztunnel-config': `Usage: ambitctl ztunnel-config workloads|services|policies|certificates [--node NODE] [-o json] [--name NAME]

What the ztunnel of each node (or of --node) believes, read from its admin endpoint /config_dump (127.0.0.1:15000
inside the node's network namespace): the workloads, services and policies it holds, and its certificates with
their validity and next refresh. -o json prints {"<node>": [...]} as the ztunnel serves it.`,
  waypoint: `Usage: ambitctl waypoint apply|generate|list|status|delete [options]

Manages waypoints (L7 proxies) the way "istioctl waypoint" does: each is a Gateway of class istio-waypoint with one
listener "mesh" on port 15008 (HBONE); the Ambit controller deploys it. Against the local cluster (--cluster NAME,
default $AMBIT_CLUSTER or "local") unless --kubeconfig PATH names another.

  apply [-n NS] [--name N] [--for service|workload|all|none] [--enroll-namespace [--overwrite]] [--wait [--waypoint-timeout 90s]]
        create or update the Gateway (label istio.io/waypoint-for when --for is given); --enroll-namespace labels the
        namespace istio.io/use-waypoint=N (after the wait), refusing to replace another waypoint without --overwrite;
        --wait waits for Programmed=True, showing the Gateway's conditions as they change. -r/--revision is accepted
        and ignored (Ambit has no control-plane revisions).
  generate [-n NS] [--name N] [--for TYPE]    print the Gateway apply would create, as YAML (no cluster needed)
  list [-n NS | -A]                           NAME, REVISION, TRAFFIC TYPE, PROGRAMMED of each waypoint
  status [-n NS] [--name N] [--wait]          the Programmed condition of the namespace's waypoints (or of N)
  delete NAME… | --all [-n NS]                delete waypoints; names that are not waypoints are reported and skipped

  -n, --namespace NS   default: the kubeconfig context's namespace, else "default"
  --name N             the waypoint (default "waypoint"; "none" is reserved)
  --kubeconfig PATH    a real cluster instead of the local one
  --cluster NAME       which local cluster (here --name is the waypoint's name, as in istioctl)`,
  install: `Usage: ambitctl install [--set KEY=VALUE]... [--dry-run] [--overlay cluster|local|DIR] [--client-side]
                        [--timeout 300s] [--kubeconfig PATH | --name NAME]

Renders deploy/overlays/cluster (or --overlay) with \`kubectl kustomize\`, applies the --set values, applies the result
with server-side apply (\`kubectl apply --server-side --field-manager ambitctl\`: CRDs and the namespace first), and
waits for every Deployment and DaemonSet to roll out, printing kubectl's progress. Objects of kinds the cluster does
not serve (the PodMonitors without the Prometheus Operator) are skipped, saying so. Run \`ambitctl check\` first.
Gateway API's CRDs are a prerequisite.

  --set KEY=VALUE    repeatable; the keys:
      image.repository     image of every Ambit container and of waypoints (default ghcr.io/ambit-dev/ambit)
      image.tag            the release to run (default this release)
      logLevel             fatal|error|warn|info|debug|trace for the controller, node agents and ztunnels (default info)
      controller.replicas  1…100 (default 2; 1 also drops the PodDisruptionBudget)
      cni.binDir           the nodes' CNI plugin directory (default /opt/cni/bin)
      cni.confDir          the nodes' CNI config directory (default /etc/cni/net.d)
      cni.hostPathPrefix   where a node's hostPath volumes are as its runtime sees them (default none: where
                           the node has them)
  --dry-run          print the YAML that would be applied; needs no cluster
  --overlay O        cluster (default with --kubeconfig or --dry-run), local (default for a local cluster), or a
                     kustomization directory of your own
  --client-side      plain \`kubectl apply\`, for an API server without server-side apply
  --timeout T        bound on each rollout (default 300s)
  --kubeconfig PATH  the cluster (its current context); without it, the local cluster --name (default "local")`,
  uninstall: `Usage: ambitctl uninstall [--purge] [--timeout 300s] [--kubeconfig PATH | --name NAME]

Removes Ambit in the order that leaves no pod broken:
  1. the node-agent DaemonSet, with foreground deletion: each agent sees its DaemonSet being deleted, removes the
     ambit-cni plugin and its config from its node and releases every pod (capture rules removed, ztunnel told) —
     pods keep running and talk in plaintext;
  2. everything else install applied (ztunnels, controller, RBAC, …), the controller's root-cert ConfigMaps and the
     waypoint Deployments, Services and ServiceAccounts it made (the Gateways, yours, stay);
  3. with --purge also the CA Secret ambit-system/ambit-ca, the CRDs (with every policy of their kinds) and the
     namespace ambit-system. Without it they stay, so a re-install keeps the mesh's root of trust and your policies.`,
  check: `Usage: ambitctl check [-o json] [--kubeconfig PATH | --name NAME]

Pre-flight checks before install, through the API as you: the Kubernetes version (1.28+); Gateway API's CRDs (which
kinds are missing, and the command that installs them); every node Ready (its runtime has a CNI network for Ambit to
chain into — which CNI and its config file cannot be seen through the API: the node agent checks on the node) and its
kernel (nftables inet nat 5.2+, tcp_migrate_req 5.14+); and SelfSubjectAccessReviews for everything install creates.
Exit code 1 when a check fails.`,
  version: `Usage: ambitctl version [-o json] [--kubeconfig PATH | --name NAME]

Prints this client's version, the Kubernetes version, the control plane's (each ambit-controller pod's image) and
each node's data plane (its ztunnel's and node agent's images, and whether they are ready).`,
  kubeconfig: `Usage: ambitctl local kubeconfig

Prints the path of the kubeconfig written by "up": kubectl --kubeconfig "$(ambitctl local kubeconfig)" get pods -A`,
};
