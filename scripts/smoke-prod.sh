#!/usr/bin/env bash
# npm run smoke:prod: the production build, run the way the Docker image runs it.
#
# In a temporary folder: the compiled dist/, migrations/, package.json and the
# production dependencies only (npm ci --omit=dev). Then `node dist/server.js`
# with NODE_ENV=production, a random JWT_SECRET and a fresh database on the
# local PostgreSQL, and checks: ready, register + one authenticated request,
# create a task, and a clean exit (code 0) on SIGTERM.
#
# Needs node, npm, psql and curl, and a PostgreSQL at SMOKE_ADMIN_URL
# (default postgres://postgres@127.0.0.1:5432/postgres) whose role may create
# databases. The database, the folder and the server are removed at the end,
# on failure too. As root, the server runs as the `node` user (as in the
# image), or `nobody` where there is no `node` user.
set -euo pipefail

readonly READY_TIMEOUT_S=30
readonly EXIT_TIMEOUT_S=15

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
admin_url=${SMOKE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
node_bin=$(command -v node)

work=$(mktemp -d "${TMPDIR:-/tmp}/taskforge-smoke.XXXXXX")
app="$work/app"
server_log="$work/server.log"
database="taskforge_smoke_$(node -p "require('node:crypto').randomBytes(6).toString('hex')")"
database_created=false
server_pid=

step() { printf '\n== %s\n' "$*"; }
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; exit 1; }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$server_log" ]; then
    printf '\n-- last lines of the server log\n'
    tail -n 40 "$server_log"
  fi
  if $database_created; then
    psql "$admin_url" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null \
      || { echo "FAIL could not drop database $database"; status=1; }
  fi
  rm -rf "$work"
  if [ "$status" -eq 0 ]; then echo "smoke:prod passed"; else echo "smoke:prod FAILED"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# An HTTP request; prints the status code (000: no answer) and leaves the body in $work/body.
request() {
  local method=$1 path=$2
  shift 2
  curl -s -o "$work/body" -w '%{http_code}' --max-time 10 -X "$method" "$@" "http://127.0.0.1:$port$path" || true
}
body_field() { node -e 'const body = JSON.parse(require("node:fs").readFileSync(0, "utf8")); console.log(process.argv[1].split(".").reduce((value, key) => value?.[key], body) ?? "")' "$1" < "$work/body"; }

step "build (tsc -p tsconfig.build.json) into $app/dist"
mkdir -p "$app"
(cd "$repo" && npm run --silent build -- --outDir "$app/dist") || fail "npm run build"
cp "$repo/package.json" "$repo/package-lock.json" "$app/"
cp -R "$repo/migrations" "$app/migrations"
# The postinstall patches the database driver: it must be there when npm ci runs.
mkdir -p "$app/scripts" && cp "$repo/scripts/patch-postgres-driver.mjs" "$app/scripts/"
pass "compiled dist/ and migrations/ in place"

step "npm ci --omit=dev"
(cd "$app" && npm ci --omit=dev --no-audit --no-fund) || fail "npm ci --omit=dev"
for dev_only in typescript tsx tap eslint; do
  [ ! -e "$app/node_modules/$dev_only" ] || fail "dev dependency $dev_only was installed"
done
(cd "$app" && node scripts/patch-postgres-driver.mjs --check) || fail "the postinstall did not patch the postgres driver"
pass "production dependencies only, the postgres driver patched"

step "database $database"
psql "$admin_url" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$database\"" >/dev/null \
  || fail "cannot create a database through $admin_url (set SMOKE_ADMIN_URL)"
database_created=true
database_url="${admin_url%/*}/$database"
pass "created $database"

port=$(node -e 'const server = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(server.address().port); server.close() })')
jwt_secret=$(node -p "require('node:crypto').randomBytes(36).toString('base64url')") # 48 characters

# As root, drop to an unprivileged user as the image does (USER node). setpriv
# execs node in place, so $! below is the server itself and gets our SIGTERM.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  user=node
  id -u "$user" >/dev/null 2>&1 || user=nobody
  chmod -R a+rX "$work"
  run_as=(setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --clear-groups --)
  echo "running the server as $user"
fi

step "start node dist/server.js on 127.0.0.1:$port"
cd "$app"
# A clean environment, as in the container: nothing from the caller's shell or .env.
"${run_as[@]}" env -i PATH="$PATH" NODE_ENV=production HOST=127.0.0.1 PORT="$port" \
  JWT_SECRET="$jwt_secret" DATABASE_URL="$database_url" LOG_LEVEL=info \
  "$node_bin" dist/server.js > "$server_log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + READY_TIMEOUT_S))
until [ "$(request GET /health/ready)" = 200 ]; do
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited before it was ready"
  [ "$SECONDS" -lt "$deadline" ] || fail "GET /health/ready is not 200 after ${READY_TIMEOUT_S}s"
  sleep 0.2
done
pass "GET /health/ready 200 (migrations applied, database answers)"

email="smoke-$(node -p "require('node:crypto').randomBytes(4).toString('hex')")@example.com"
status=$(request POST /auth/register -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"smoke test password\",\"name\":\"Smoke\"}")
[ "$status" = 201 ] || fail "POST /auth/register answered $status: $(cat "$work/body")"
access_token=$(body_field accessToken)
[ -n "$access_token" ] || fail "POST /auth/register returned no accessToken"
pass "POST /auth/register 201"

status=$(request GET /auth/me -H "authorization: Bearer $access_token")
[ "$status" = 200 ] || fail "GET /auth/me answered $status: $(cat "$work/body")"
[ "$(body_field email)" = "$email" ] || fail "GET /auth/me returned another user: $(cat "$work/body")"
pass "GET /auth/me 200 with the Bearer token"

status=$(request POST /tasks -H "authorization: Bearer $access_token" -H 'content-type: application/json' -d '{"title":"smoke"}')
[ "$status" = 201 ] || fail "POST /tasks answered $status: $(cat "$work/body")"
pass "POST /tasks 201"

step "SIGTERM"
kill -TERM "$server_pid"
deadline=$((SECONDS + EXIT_TIMEOUT_S))
while kill -0 "$server_pid" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the server still runs ${EXIT_TIMEOUT_S}s after SIGTERM"
  sleep 0.1
done
exit_code=0
wait "$server_pid" || exit_code=$?
server_pid=
[ "$exit_code" -eq 0 ] || fail "the server exited with $exit_code after SIGTERM"
pass "exited 0 after SIGTERM"
