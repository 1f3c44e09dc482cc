// Write only if nobody changed the task since you read it, and recover when somebody did.
import { ApiProblem, TaskforgeClient } from '@taskforge/client'

const client = new TaskforgeClient({ baseUrl: process.env.TASKFORGE_URL ?? 'http://localhost:3000' })
await client.signIn({
  email: process.env.TASKFORGE_EMAIL ?? 'ada@example.io',
  password: process.env.TASKFORGE_PASSWORD ?? 'correct horse battery'
})

const task = await client.tasks.create({ title: 'Plan the offsite' })
// Meanwhile another device renames it, and the task's version moves on.
await client.tasks.update(task.id, { title: 'Plan the two-day offsite' })

try {
  // ifMatch: true sends If-Match with the version of the task we hold, which is stale now.
  await client.tasks.update(task, { priority: 'high' }, { ifMatch: true })
} catch (error) {
  if (!(error instanceof ApiProblem && error.status === 412)) throw error
  console.log(`not saved: ${error.title} (request ${error.requestId ?? '?'})`)
  // Read it again, look at what changed, and write against the version just read.
  const fresh = await client.tasks.get(task.id)
  const saved = await client.tasks.update(fresh, { priority: 'high' }, { ifMatch: true })
  console.log(`saved "${saved.title}" at version ${saved.version}`)
}
