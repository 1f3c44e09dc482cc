import { Counter, Histogram, Registry } from 'prom-client'
import t from 'tap'
import { LabelledHistogram } from '../../observability/histogram.js'

const BUCKETS = [0.005, 0.01, 0.5, 1]
const OBSERVATIONS: [string[], number][] = [
  [['GET', '/tasks/:id', '200'], 0.004],
  [['GET', '/tasks/:id', '200'], 0.005],
  [['GET', '/tasks/:id', '200'], 0.2],
  [['POST', '/tasks', '201'], 3],
  [['GET', 'say "hi"\\\n', '404'], 0.01],
  [['GET', '/tasks/:id', '200'], 0.0101]
]

t.test('renders what prom-client renders for the same observations: buckets, +Inf, sum, count and the _total counter', async (t) => {
  const ours = new LabelledHistogram({
    name: 'http_request_duration_seconds',
    help: 'Time of a request\nby route \\ method',
    labelNames: ['method', 'route', 'status_code'],
    buckets: BUCKETS,
    counter: { name: 'http_requests_total', help: 'Requests' }
  })
  const registry = new Registry()
  const theirs = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time of a request\nby route \\ method',
    labelNames: ['method', 'route', 'status_code'],
    buckets: BUCKETS,
    registers: [registry]
  })
  const theirCount = new Counter({ name: 'http_requests_total', help: 'Requests', labelNames: ['method', 'route', 'status_code'], registers: [registry] })
  for (const [[method = '', route = '', status = ''], value] of OBSERVATIONS) {
    ours.observe([method, route, status], value)
    theirs.observe({ method, route, status_code: status }, value)
    theirCount.inc({ method, route, status_code: status })
  }
  t.equal(ours.render().join('\n'), await registry.metrics())
})

t.test('without labels, and a value that is not a number is left out, as prom-client refuses it', async (t) => {
  const ours = new LabelledHistogram({ name: 'x_seconds', help: 'x', labelNames: [], buckets: BUCKETS })
  const registry = new Registry()
  const theirs = new Histogram({ name: 'x_seconds', help: 'x', buckets: BUCKETS, registers: [registry] })
  for (const value of [0.001, 0.7, 12]) {
    ours.observe([], value)
    theirs.observe(value)
  }
  ours.observe([], Number.NaN)
  t.throws(() => { theirs.observe(Number.NaN) })
  t.equal(ours.render().join('\n'), await registry.metrics())
})
