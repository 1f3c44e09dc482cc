// Go through every task that matches some filters, whatever the number of pages.
import { TaskforgeClient } from '@taskforge/client'

const client = new TaskforgeClient({ baseUrl: process.env.TASKFORGE_URL ?? 'http://localhost:3000' })
await client.signIn({
  email: process.env.TASKFORGE_EMAIL ?? 'ada@example.io',
  password: process.env.TASKFORGE_PASSWORD ?? 'correct horse battery'
})

// The iterator follows nextCursor with the same filters: each matching task comes once,
// also while tasks are being added.
let count = 0
for await (const task of client.tasks.all({ status: ['todo', 'in_progress'], tag: ['work'], sort: 'dueAt', limit: 50 })) {
  console.log(`${task.dueAt ?? 'no due date'}  ${task.title}`)
  count++
}
console.log(`${count} open work tasks`)

// Or a page at a time, e.g. to show one page per screen.
for await (const page of client.tasks.pages({ q: 'report' })) {
  console.log(`a page of ${page.items.length}${page.nextCursor === null ? ', the last' : ''}`)
}
