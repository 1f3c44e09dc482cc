/**
 * Fixes postgres.js 3.4.9's write scheduler in node_modules, at every install
 * (package.json's postinstall; plain JavaScript because production installs
 * have no TypeScript runner).
 *
 * The driver defers small writes to a setImmediate. When a connection closes,
 * it cancels that immediate but leaves the timer variable set and the unsent
 * bytes buffered, and it sets its socket to null. Two failures follow:
 * - a transaction whose connection dies mid-query sends its ROLLBACK on the
 *   dead connection; the write's immediate then calls `null.write` and the
 *   uncaught TypeError takes the whole process down (`npm run chaos` saw it:
 *   a PostgreSQL restart under load killed the app);
 * - a connection closed with a write pending never schedules a write again
 *   when it reconnects (the stale timer looks armed), and would send the stale
 *   bytes before its start-up message;
 * - a connection whose backend ended with a FATAL error (what a restart or
 *   pg_terminate_backend sends) keeps that error and the dead query, and
 *   hands the error to the first query it runs after reconnecting.
 * Upstream: porsager/postgres issues 1066, 1154 and 1208, pull requests 1168,
 * 1176 and 1209, none released as of 3.4.9. The fix here: a closing connection
 * drops its pending write and disarms the timer, and a write that finds no
 * socket rejects the queries that were sent on the closed connection with
 * CONNECTION_CLOSED instead of throwing where no one can catch it (the query
 * a reconnect is starting for is left to it), and a closed connection forgets
 * its query, error and partial result as a finished query does.
 *
 * And its pool's queues (queue.js) slow down the longer they stay non-empty:
 * shift() leaves a hole at the front and only starts a new array once the
 * queue has been empty, and remove() searches from the first hole. The pool
 * moves a connection between its queues (remove, then push) several times a
 * query, so while more requests are in flight than the pool has connections
 * (the busy queue never empties) each query costs more than the one before:
 * GET /tasks/:id at 100 connections fell from 8,500 to 4,500 requests/s over
 * 32 seconds. The fix: remove() searches from the front of the queue, and
 * shift() drops the holes once they are half of the array (amortised O(1)).
 *
 * Each edit must find its original text exactly once or its patched text
 * already there; anything else (another driver version) fails the install,
 * so that an upgrade is checked against upstream's fix before this is
 * dropped or adapted. package.json pins the driver's version for that reason.
 *
 *   node scripts/patch-postgres-driver.mjs          patch (again: a no-op)
 *   node scripts/patch-postgres-driver.mjs --check  exit 1 unless patched
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PATCHED_VERSION = '3.4.9'
const MARK = 'taskforge: patched by scripts/patch-postgres-driver.mjs'

/** The driver's three builds (ESM for Node, CommonJS, Cloudflare Workers); the app loads the first. */
const BUILDS = ['src', 'cjs/src', 'cf/src']

const CONNECTION_EDITS = [
  {
    // Only the queries sent on the closed connection: `initial`, if set, waits for the next one.
    what: 'a write that finds the connection closed rejects its queries instead of throwing',
    original: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n',
    patched: '  function nextWrite(fn) {\n' +
      `    // ${MARK}\n` +
      '    if (!socket) {\n' +
      '      chunk = nextWriteTimer = null\n' +
      "      const closedError = Errors.connection('CONNECTION_CLOSED', options)\n" +
      '      query && queryError(query, closedError)\n' +
      '      while (sent.length) queryError(sent.shift(), closedError)\n' +
      '      return false\n' +
      '    }\n' +
      '    const x = socket.write(chunk, fn)\n'
  },
  {
    what: 'terminate() drops the pending write and disarms the timer',
    original: '    clearImmediate(nextWriteTimer)\n    if (socket) {\n',
    patched: `    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null // ${MARK}\n    if (socket) {\n`
  },
  {
    what: 'closed() drops the pending write and disarms the timer',
    original: "    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)\n",
    patched: `    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null // ${MARK}\n    socket.removeListener('data', data)\n`
  },
  {
    // As ReadyForQuery resets them after every query; a closed connection has none to reset them.
    what: 'closed() forgets the dead connection\'s query, error and partial result',
    original: "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n",
    patched: "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n" +
      `    query = results = errorResponse = null // ${MARK}\n` +
      '    result = new Result()\n'
  }
]

const QUEUE_EDITS = [
  {
    what: 'remove() searches from the front of the queue, not from the holes shift() left',
    original: '    remove: (x) => {\n      const index = xs.indexOf(x)\n      return index === -1\n        ? null\n        : (xs.splice(index, 1), x)\n',
    patched: `    remove: (x) => { // ${MARK}\n` +
      '      const at = xs.indexOf(x, index)\n      return at === -1\n        ? null\n        : (xs.splice(at, 1), x)\n'
  },
  {
    what: 'shift() drops the holes once they are half of the array',
    original: '      if (index === xs.length) {\n        index = 0\n        xs = []\n      } else {\n',
    patched: '      if (index === xs.length) {\n        index = 0\n        xs = []\n' +
      `      } else if (index >= 1024 && index * 2 >= xs.length) { // ${MARK}\n` +
      '        xs = xs.slice(index)\n        index = 0\n      } else {\n'
  }
]

/** Each file of a build, and its edits. */
const FILES = [
  { name: 'connection.js', edits: CONNECTION_EDITS },
  { name: 'queue.js', edits: QUEUE_EDITS }
]

/**
 * @param {string} text
 * @param {string} part
 */
function occurrences (text, part) {
  return text.split(part).length - 1
}

/**
 * The patched text of one file, or the reason it cannot be patched.
 * @param {string} source
 * @param {{ what: string, original: string, patched: string }[]} edits
 * @returns {{ text: string, error?: undefined } | { error: string, text?: undefined }}
 */
function patchSource (source, edits) {
  let text = source
  for (const edit of edits) {
    if (occurrences(text, edit.patched) === 1) continue
    if (occurrences(text, edit.original) !== 1) return { error: `cannot apply "${edit.what}": its original text is not there exactly once` }
    text = text.replace(edit.original, edit.patched)
  }
  return { text }
}

/**
 * Whether every build of the installed driver holds every edit.
 * @param {string} driverDirectory
 */
function isPatched (driverDirectory) {
  return BUILDS.every((build) => FILES.every(({ name, edits }) => {
    const source = readFileSync(join(driverDirectory, build, name), 'utf8')
    return edits.every((edit) => occurrences(source, edit.patched) === 1)
  }))
}

function main () {
  const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
  const driverDirectory = join(projectRoot, 'node_modules', 'postgres')
  const version = /"version":\s*"([^"]+)"/.exec(readFileSync(join(driverDirectory, 'package.json'), 'utf8'))?.[1] ?? 'unknown'
  /** @param {string} message */
  const fail = (message) => {
    process.stderr.write(`patch-postgres-driver: ${message}\n`)
    process.exit(1)
  }

  if (process.argv.includes('--check')) {
    if (!isPatched(driverDirectory)) fail(`postgres ${version} in node_modules is not patched: run node scripts/patch-postgres-driver.mjs`)
    return
  }
  if (version !== PATCHED_VERSION) {
    fail(`postgres ${version} is installed, the patch is for ${PATCHED_VERSION}: check whether upstream fixed the write scheduler and the pool's queues, then adapt or drop this script`)
  }
  for (const build of BUILDS) {
    for (const { name, edits } of FILES) {
      const file = join(driverDirectory, build, name)
      const source = readFileSync(file, 'utf8')
      const result = patchSource(source, edits)
      if (result.error !== undefined) fail(`${build}/${name}: ${result.error}`)
      if (result.text !== source) writeFileSync(file, result.text)
    }
  }
}

main()
