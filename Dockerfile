# syntax=docker/dockerfile:1
#
# event-spine daemon image (DESIGN §8): multi-stage, production dependencies only, runs as
# a non-root user on a volume.
#
#   docker build -t event-spine .
#   docker run -d --name spine -v spine-data:/data \
#     -e EVENT_SPINE_HOST=0.0.0.0 \
#     -p 127.0.0.1:50051:50051 -p 127.0.0.1:8080:8080 event-spine
#
# Listening address: the image keeps the daemon's default host, 127.0.0.1 (config/), so a
# container started without thought serves nobody but itself: until API keys exist the
# daemon has no authentication, and DESIGN §7 allows that only on loopback. To reach it,
# opt in with EVENT_SPINE_HOST=0.0.0.0 (inside the container) and publish the ports on the
# host's loopback (`-p 127.0.0.1:…`) or on a private network you trust, never on a public
# interface. The HEALTHCHECK runs inside the container, so it works with either host.
#
# Native modules: classic-level and msgpackr-extract ship prebuilt binaries for
# linux-x64/arm64 (glibc and musl), loaded at run time by node-gyp-build, so
# `npm ci --ignore-scripts` is enough and no compiler is needed in any stage.

# ---- build: dev dependencies, TypeScript → dist/ ----------------------------------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would run tsc before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
# Only the daemon's sources: tsc compiles whichever of src/, bench/, test/ are present.
COPY src ./src
RUN npx tsc -p tsconfig.json

# ---- deps: production dependencies only -------------------------------------------------
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
COPY config ./config
# The data directory belongs to the unprivileged `node` user of the base image (uid 1000);
# a numeric USER lets Kubernetes' runAsNonRoot check it.
RUN mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
VOLUME /data
# gRPC, HTTP (/healthz, /readyz, /metrics, REST).
EXPOSE 50051 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const port = process.env.EVENT_SPINE_HTTP_PORT || 8080; require('node:http').get({ host: '127.0.0.1', port, path: '/healthz', timeout: 4000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));"]
# Exec form: node runs as PID 1 and gets SIGTERM itself; the daemon handles it, so
# `docker stop` is a graceful shutdown (in-flight appends finished, fsync, exit 0).
STOPSIGNAL SIGTERM
CMD ["node", "bin/event-spine.js", "serve", "--data-dir", "/data"]
