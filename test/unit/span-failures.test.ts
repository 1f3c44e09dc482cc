import { SpanStatusCode } from '@opentelemetry/api'
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node'
import t from 'tap'
import { NotFoundError, UnavailableError } from '../../errors.js'
import { recordSpanFailure } from '../../observability/tracing.js'

t.test('a span fails for an unavailable database, though its error is a domain error now, and not for an answer such as not found', async (t) => {
  const exporter = new InMemorySpanExporter()
  const tracer = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test')
  for (const [name, error] of [['unavailable', new UnavailableError('The database is temporarily unavailable')], ['not found', new NotFoundError()]] as const) {
    const span = tracer.startSpan(name)
    recordSpanFailure(span, error)
    span.end()
  }
  const [unavailable, notFound] = exporter.getFinishedSpans()
  t.equal(unavailable?.status.code, SpanStatusCode.ERROR)
  t.match(unavailable?.attributes, { 'error.type': 'UnavailableError' })
  t.equal(notFound?.status.code, SpanStatusCode.UNSET)
  t.match(notFound?.attributes, { 'error.type': 'not-found' })
})
