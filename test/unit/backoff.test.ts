import t from 'tap'
import { retryDelayMs } from '../../plugins/jobs/backoff.js'

const options = { baseMs: 1000, maxMs: 60_000 }

t.test('doubles per attempt, with jitter in the upper half', async (t) => {
  const low = () => 0
  const high = () => 1
  t.equal(retryDelayMs(1, options, low), 500)
  t.equal(retryDelayMs(1, options, high), 1000)
  t.equal(retryDelayMs(2, options, high), 2000)
  t.equal(retryDelayMs(3, options, high), 4000)
  t.equal(retryDelayMs(3, options, low), 2000)
  t.equal(retryDelayMs(10, options, high), 60_000, 'capped')
  t.equal(retryDelayMs(50, options, low), 30_000, 'no overflow far beyond the cap')
})

t.test('random jitter stays within bounds', async (t) => {
  for (let attempt = 1; attempt <= 8; attempt++) {
    const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1))
    for (let i = 0; i < 50; i++) {
      const delay = retryDelayMs(attempt, options)
      if (delay < ceiling / 2 || delay > ceiling) t.fail(`attempt ${attempt}: ${delay} outside [${ceiling / 2}, ${ceiling}]`)
    }
  }
  const spread = new Set(Array.from({ length: 20 }, () => retryDelayMs(5, options)))
  t.ok(spread.size > 5, 'jobs that failed together come back at different times')
})
