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
import { TaskforgeClient, type WebhookDelivery } from '../../clients/typescript/src/index.js'
import { verifyWebhook } from '../../clients/typescript/src/webhooks.js'
import { CLIENT_ROOT, PASSWORD, startClientTestServer } from '../helpers/client-server.js'
import { eventually } from '../helpers/jobs.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'
import { DELIVERY_TEST_ENVIRONMENT, startReceiver } from '../helpers/webhooks.js'

const run = promisify(execFile)
const EXAMPLES = join(CLIENT_ROOT, 'examples')
const TSC = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

// Webhooks may deliver to receivers on 127.0.0.1 over http, and deliveries are picked up quickly.
const server = await startClientTestServer(t, DELIVERY_TEST_ENVIRONMENT)

/** Runs an example with tsx, "@taskforge/client" mapped to the sources by examples/tsconfig.json; resolves with its output. */
async function runExample (name: string, environment: Record<string, string>): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(EXAMPLES, name)], {
    cwd: CLIENT_ROOT,
    env: { PATH: process.env.PATH, TSX_TSCONFIG_PATH: join(EXAMPLES, 'tsconfig.json'), TASKFORGE_URL: server.baseUrl, ...environment },
    timeout: 60_000
  })
  return stdout
}

/** Waits until the webhook has `count` deliveries and none is pending; resolves with them, newest first. */
async function settled (client: TaskforgeClient, webhookId: string, count: number): Promise<WebhookDelivery[]> {
  return eventually(async () => {
    const { items } = await client.webhooks.listDeliveries(webhookId, { limit: 100 })
    return items.length >= count && items.every((delivery) => delivery.status !== 'pending') && items
  }, 30_000, `${count} settled deliveries`)
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

t.test('webhooks.ts makes a webhook, prints its secret once, and sums up the deliveries of each', async (t) => {
  const { environment, client } = await account()
  const working = await startReceiver(t)
  const refusing = await startReceiver(t, () => 503)
  const fresh = await startReceiver(t)
  const before = [
    await client.webhooks.create({ url: working.url, events: ['task.created'] }),
    await client.webhooks.create({ url: refusing.url, events: ['task.created'] })
  ]
  await client.tasks.create({ title: 'first' })
  await client.tasks.create({ title: 'second' })
  for (const webhook of before) await settled(client, webhook.id, 2)

  const output = await runExample('webhooks.ts', { ...environment, TASKFORGE_WEBHOOK_URL: fresh.url })
  const match = /^webhook ([0-9a-f-]{36}): secret (whsec_\S+)\n/.exec(output)
  if (match?.[1] === undefined || match[2] === undefined) throw new Error(`no webhook and secret in ${JSON.stringify(output)}`)
  const [, id, secret] = match
  t.equal(output.slice(match[0].length), [
    `${working.url}: 2 delivered, 0 pending, 0 failed`,
    `${refusing.url}: 0 delivered, 0 pending, 2 failed`,
    '  last failed: task.created, the receiver answered 503',
    `${fresh.url}: 0 delivered, 0 pending, 0 failed`,
    ''
  ].join('\n'), 'every webhook, oldest first, its deliveries counted across pages')
  t.match(await client.webhooks.get(id), { url: fresh.url, events: ['task.created', 'task.completed'], enabled: true })

  // The secret it printed is the one taskforge signs with.
  const task = await client.tasks.create({ title: 'heard by the new webhook' })
  const [request] = await fresh.waitFor(1)
  if (request === undefined) throw new Error('no request')
  const { event } = verifyWebhook({ payload: request.body, headers: request.headers, secret })
  t.match(event, { type: 'task.created', data: { task: { id: task.id } } })
})

t.test('verify-webhook.ts handles a real delivery from taskforge, accepts signed deliveries once per webhook-id and refuses the rest', async (t) => {
  // The receiver needs the secret before it starts, and the webhook its URL after:
  // made with a URL nothing listens at (no task changes yet, so nothing is sent), then moved.
  const { client } = await account()
  const webhook = await client.webhooks.create({ url: 'http://127.0.0.1:1/', events: ['task.created'] })
  const secret = webhook.secret
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

  // A real delivery, signed by taskforge.
  await client.webhooks.update(webhook, { url })
  const task = await client.tasks.create({ title: 'Delivered to the example' })
  await eventually(async () => lines.includes(`task.created: task ${task.id}`), 30_000, 'the receiver to print the real delivery')
  const [delivery] = await settled(client, webhook.id, 1)
  t.match(delivery, { status: 'delivered', attempts: 1, lastStatusCode: 204 }, 'a real delivery, verified and acknowledged')

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
  t.same(lines.slice(1), [`task.created: task ${task.id}`, 'task.deleted: task t-1', 'task.deleted: task t-2'], 'each accepted delivery handled once')
})
