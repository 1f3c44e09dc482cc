/**
 * The receiver example in README's "Webhooks" section, word for word, run
 * as a process of its own: it verifies a real delivery from taskforge with
 * the standardwebhooks package, and refuses a forged one.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { registerUser } from '../helpers/auth.js'
import { eventually } from '../helpers/jobs.js'
import { freePort } from '../helpers/smtp.js'
import { tasksClient } from '../helpers/tasks.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'
import { DELIVERY_TEST_ENVIRONMENT, webhooksClient } from '../helpers/webhooks.js'

const MARKER = '<!-- webhook receiver example: test/integration/webhooks-readme.test.ts runs it -->'

function readmeExample (): string {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8')
  const after = readme.slice(readme.indexOf(MARKER) + MARKER.length)
  const code = /^\s*```js\n([\s\S]*?)\n```/.exec(after)?.[1]
  if (readme.indexOf(MARKER) === -1 || code === undefined) throw new Error('README has no webhook receiver example after its marker')
  return code
}

t.test('README\'s receiver verifies a real delivery, answers 204 and refuses a forged one', async (t) => {
  const { app } = await buildTestApp(t, DELIVERY_TEST_ENVIRONMENT)
  const user = await registerUser(app)
  const hooks = webhooksClient(app, user.accessToken)
  const port = await freePort()
  const webhook = await hooks.createWebhook(`http://127.0.0.1:${port}/`, ['task.created'])

  // Inside the project, so that it finds standardwebhooks in node_modules as a receiver's project would.
  const folder = join(PROJECT_ROOT, '.tmp', `readme-receiver-${randomBytes(4).toString('hex')}`)
  mkdirSync(folder, { recursive: true })
  t.teardown(() => { rmSync(folder, { recursive: true, force: true }) })
  const file = join(folder, 'receiver.mjs')
  writeFileSync(file, readmeExample())
  const receiver = spawn(process.execPath, [file], {
    env: { PATH: process.env.PATH, WEBHOOK_SECRET: webhook.secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { receiver.kill() })
  const lines: string[] = []
  createInterface({ input: receiver.stdout }).on('line', (line) => lines.push(line))
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).catch(() => undefined))?.status === 400,
    10_000, 'the receiver to listen (and refuse an unsigned request)')

  const task = await tasksClient(app, user.accessToken).createTask({ title: 'heard by the README receiver' })
  await eventually(async () => lines.includes(`task.created ${task.id}`), 20_000, 'the receiver to print the event')
  const [delivery] = await hooks.settledDeliveries(webhook.id, 1)
  t.match(delivery, { status: 'delivered', attempts: 1, lastStatusCode: 204 })

  const forged = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    headers: { 'webhook-id': 'msg_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': `v1,${randomBytes(32).toString('base64')}` },
    body: JSON.stringify({ type: 'task.deleted', timestamp: new Date().toISOString(), data: { task: { id: task.id } } })
  })
  t.equal(forged.status, 400, 'a delivery not signed with the secret is refused')
  t.same(lines, [`task.created ${task.id}`], 'and only the real one was handled')
})
