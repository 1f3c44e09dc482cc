/**
 * The TypeScript client's examples (clients/typescript/examples): each is in
 * the client's README word for word, they compile under strict, and each runs
 * against a live taskforge and does what it says.
 */
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { TaskforgeClient } from '../../clients/typescript/src/index.js'
import { CLIENT_ROOT, PASSWORD, startClientTestServer } from '../helpers/client-server.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'

const run = promisify(execFile)
const EXAMPLES = join(CLIENT_ROOT, 'examples')
const TSC = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

const server = await startClientTestServer(t)

/** Runs an example with tsx, "@taskforge/client" mapped to the sources by examples/tsconfig.json; resolves with its output. */
async function runExample (name: string, environment: Record<string, string>): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(EXAMPLES, name)], {
    cwd: CLIENT_ROOT,
    env: { PATH: process.env.PATH, TSX_TSCONFIG_PATH: join(EXAMPLES, 'tsconfig.json'), TASKFORGE_URL: server.baseUrl, ...environment },
    timeout: 60_000
  })
  return stdout
}

/** A new user's credentials, as the examples read them, and a client signed in as them. */
async function account (): Promise<{ environment: Record<string, string>; client: TaskforgeClient }> {
  const email = await server.newUser()
  const client = new TaskforgeClient({ baseUrl: server.baseUrl })
  await client.signIn({ email, password: PASSWORD })
  return { environment: { TASKFORGE_EMAIL: email, TASKFORGE_PASSWORD: PASSWORD }, client }
}

t.test('every example is in the client\'s README word for word, and every example there is a file', async (t) => {
  const readme = await readFile(join(CLIENT_ROOT, 'README.md'), 'utf8')
  const shown = [...readme.matchAll(/<!-- example: (examples\/[\w-]+\.ts) -->\n```ts\n([\s\S]*?)```\n/g)]
  const files = (await readdir(EXAMPLES)).filter((name) => name.endsWith('.ts')).map((name) => `examples/${name}`).sort()
  t.same(shown.map(([, path]) => path).sort(), files, 'one README block per example file')
  for (const [, path = '', code] of shown) t.equal(code, await readFile(join(CLIENT_ROOT, path), 'utf8'), path)
})

t.test('the examples compile under strict', async (t) => {
  const config = JSON.parse((await readFile(join(CLIENT_ROOT, 'tsconfig.json'), 'utf8')).replace(/^\s*\/\/.*$/gm, '')) as { compilerOptions: { strict: boolean } }
  t.equal(config.compilerOptions.strict, true)
  const { stdout } = await run(process.execPath, [TSC, '-p', join(EXAMPLES, 'tsconfig.json')], { cwd: CLIENT_ROOT })
  t.equal(stdout, '', 'tsc reports nothing')
})

t.test('sign-in.ts signs in, keeps the refresh token, resumes from it and signs out', async (t) => {
  const { environment } = await account()
  const folder = await mkdtemp(join(tmpdir(), 'taskforge-client-example-'))
  t.teardown(() => rm(folder, { recursive: true, force: true }))
  const sessionFile = join(folder, 'session.json')
  const output = await runExample('sign-in.ts', { ...environment, TASKFORGE_SESSION_FILE: sessionFile })
  t.equal(output, `signed in as ${environment.TASKFORGE_EMAIL}\nresumed as ${environment.TASKFORGE_EMAIL}\n`)
  await t.rejects(stat(sessionFile), { code: 'ENOENT' }, 'signing out removed the kept token')
})

t.test('create-task.ts creates a task, and the same key twice gives one more', async (t) => {
  const { environment, client } = await account()
  const output = await runExample('create-task.ts', environment)
  t.match(output, /^created [0-9a-f-]{36} \(version 1\)\nthe same key gave the same task: true\n$/)
  t.same((await client.tasks.list()).items.map((task) => task.title).sort(), ['Book the venue', 'Write the quarterly report'])
})

t.test('list-tasks.ts goes through every matching task, across pages', async (t) => {
  const { environment, client } = await account()
  for (let index = 0; index < 60; index++) {
    await client.tasks.create({ title: `report ${index}`, tags: index % 3 === 0 ? ['home'] : ['work'], status: index % 4 === 0 ? 'done' : 'todo' })
  }
  const openWork = Array.from({ length: 60 }, (_, index) => index).filter((index) => index % 3 !== 0 && index % 4 !== 0).length
  const output = await runExample('list-tasks.ts', environment)
  t.match(output, new RegExp(`\\n${openWork} open work tasks\\n`))
  t.match(output, /\na page of 20\na page of 20\na page of 20, the last\n$/, 'every task matches "report": 60 in pages of 20')
})

t.test('handle-412.ts is refused on a stale version, reads again and saves', async (t) => {
  const { environment, client } = await account()
  const output = await runExample('handle-412.ts', environment)
  t.match(output, /^not saved: Precondition failed \(request \S+\)\nsaved "Plan the two-day offsite" at version 3\n$/)
  t.match((await client.tasks.list()).items, [{ title: 'Plan the two-day offsite', priority: 'high', version: 3 }])
})

t.test('personal-access-token.ts makes a token, reads with it, is refused a write, lists and revokes it', async (t) => {
  const { environment, client } = await account()
  await client.tasks.create({ title: 'Exported tonight' })
  const output = await runExample('personal-access-token.ts', environment)
  t.equal(output, 'the script read 1 tasks\nrefused: This route needs a token with the tasks:write scope\nnightly export: tasks:read\n')
  t.same((await client.tasks.list()).items.map((task) => task.title), ['Exported tonight'], 'the refused write made nothing')
  t.same(await client.tokens.list(), [], 'revoked: no live token is left')
})

t.test('verify-webhook.ts accepts signed deliveries once per webhook-id and refuses the rest', async (t) => {
  const secret = `whsec_${Buffer.from('a secret of 32 bytes for the test').toString('base64')}`
  const receiver = spawn(process.execPath, ['--import', 'tsx', join(EXAMPLES, 'verify-webhook.ts')], {
    cwd: CLIENT_ROOT,
    env: { PATH: process.env.PATH, TSX_TSCONFIG_PATH: join(EXAMPLES, 'tsconfig.json'), PORT: '0', TASKFORGE_WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(async () => {
    if (receiver.exitCode === null) {
      receiver.kill('SIGTERM')
      await once(receiver, 'exit')
    }
  })
  const lines: string[] = []
  const output = createInterface({ input: receiver.stdout })
  const url = await new Promise<string>((resolve, reject) => {
    output.on('line', (line) => {
      lines.push(line)
      const match = /^listening on (http:\/\/\S+)$/.exec(line)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    receiver.once('exit', (code) => { reject(new Error(`the receiver exited with ${String(code)}`)) })
  })

  // Signed as taskforge signs (API.md): Standard Webhooks, here by the standardwebhooks package itself.
  const post = async (body: string, id: string, secrets: string[]) => {
    const at = new Date()
    const signature = secrets.map((key) => new Webhook(key).sign(id, at, body)).join(' ')
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature },
      body
    })
    return response.status
  }
  const body = (taskId: string) => JSON.stringify({ type: 'task.deleted', timestamp: new Date().toISOString(), data: { task: { id: taskId } } })
  t.equal(await post(body('t-1'), 'msg_1', [secret]), 204, 'signed with the secret')
  t.equal(await post(body('t-1'), 'msg_1', [secret]), 204, 'a repeat is acknowledged too')
  t.equal(await post(body('t-2'), 'msg_2', [`whsec_${Buffer.from('the secret before the rotation..').toString('base64')}`, secret]), 204,
    'during a rotation, signed with both')
  t.equal(await post(body('t-3'), 'msg_3', [`whsec_${Buffer.from('somebody else\'s secret, 32 bytes').toString('base64')}`]), 400, 'not signed with it')
  // The receiver logs before it answers, but its output may reach us after the answer: stop it and read to the end.
  receiver.kill('SIGTERM')
  await once(output, 'close')
  t.same(lines.slice(1), ['task.deleted: task t-1', 'task.deleted: task t-2'], 'each accepted delivery handled once')
})
