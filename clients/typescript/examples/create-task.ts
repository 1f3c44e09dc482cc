// Create a task. Every create carries an Idempotency-Key, so a retry never makes a second task.
import { TaskforgeClient, newIdempotencyKey } from '@taskforge/client'

const client = new TaskforgeClient({ baseUrl: process.env.TASKFORGE_URL ?? 'http://localhost:3000' })
await client.signIn({
  email: process.env.TASKFORGE_EMAIL ?? 'ada@example.io',
  password: process.env.TASKFORGE_PASSWORD ?? 'correct horse battery'
})

// The client makes a key for each create and retries on a lost answer or a 503 with it.
const task = await client.tasks.create({
  title: 'Write the quarterly report',
  priority: 'high',
  dueAt: new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString(),
  tags: ['work']
})
console.log(`created ${task.id} (version ${task.version})`)

// To retry across calls yourself (after a crash, from a queue), keep the key with the work:
const key = newIdempotencyKey()
const first = await client.tasks.create({ title: 'Book the venue' }, { idempotencyKey: key })
const again = await client.tasks.create({ title: 'Book the venue' }, { idempotencyKey: key })
console.log(`the same key gave the same task: ${String(first.id === again.id)}`)
