# syntax=docker/dockerfile:1
#
# event-spine daemon image (DESIGN §8): multi-stage, production dependencies only, runs as
# a non-root user on a volume.
#
#   docker build -t event-spine .
#   docker run -d --name spine -v spine-data:/data \
#     -p 127.0.0.1:50051:50051 -p 127.0.0.1:8080:8080 \
#     -e EVENT_SPINE_HOST=0.0.0.0 -e EVENT_SPINE_AUTH_MODE=keys \
#     -e EVENT_SPINE_AUTH_KEYS_FILE=/run/secrets/keys.json \
#     -v "$PWD/keys.json:/run/secrets/keys.json:ro" event-spine
#
# Listening address: the image keeps the daemon's defaults, host 127.0.0.1 and auth.mode
# "none", so a container started without thought serves nobody but itself. Reaching it
# from outside needs EVENT_SPINE_HOST=0.0.0.0, and the daemon refuses that without API keys
# (DESIGN §7: exit 2 naming auth.mode), so the image cannot open an unauthenticated daemon
# by accident. Make the keys file with `event-spine keys new` (it holds hashes, never
# secrets), mount it read-only and readable by uid 1000; `docker kill -s HUP spine`
# reloads it. Add TLS with EVENT_SPINE_TLS_CERT_FILE and EVENT_SPINE_TLS_KEY_FILE (and
# EVENT_SPINE_TLS_CLIENT_CA_FILE for mutual TLS): without it keys cross the network in
# plain text, so publish the ports on the host's loopback or a private network only.
# EVENT_SPINE_AUTH_ALLOW_UNAUTHENTICATED_NETWORK=true serves without keys beyond loopback:
# only for a private network behind an authenticating proxy.
#
# The HEALTHCHECK runs inside the container against 127.0.0.1, with either host. /healthz
# needs no key; over TLS it skips the certificate check (it sends nothing secret, and the
# certificate names the public host), and with mutual TLS it presents the server's own
# certificate, so it passes when tls.clientCaFile also signed that one; otherwise give the
# container its own check (docker run --health-cmd) or none.
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
  CMD ["node", "-e", "const e = process.env, fs = require('node:fs'), tls = Boolean(e.EVENT_SPINE_TLS_CERT_FILE); const o = { host: '127.0.0.1', port: e.EVENT_SPINE_HTTP_PORT || 8080, path: '/healthz', timeout: 4000 }; if (tls) { o.rejectUnauthorized = false; if (e.EVENT_SPINE_TLS_CLIENT_CA_FILE) { o.cert = fs.readFileSync(e.EVENT_SPINE_TLS_CERT_FILE); o.key = fs.readFileSync(e.EVENT_SPINE_TLS_KEY_FILE); } } require(tls ? 'node:https' : 'node:http').get(o, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));"]
# Exec form: node runs as PID 1 and gets SIGTERM itself; the daemon handles it, so
# `docker stop` is a graceful shutdown (in-flight appends finished, fsync, exit 0).
STOPSIGNAL SIGTERM
CMD ["node", "bin/event-spine.js", "serve", "--data-dir", "/data"]
