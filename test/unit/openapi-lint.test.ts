import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { lintWithRedocly, lintWithSpectral, type LintFinding } from '../helpers/openapi-lint.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'

const file = join(PROJECT_ROOT, 'openapi.json')
const source = await readFile(file, 'utf8')

const report = (findings: LintFinding[]) => findings.map((finding) => `${finding.severity} ${finding.rule} at ${finding.at}: ${finding.message}`)

t.test('openapi.json passes Redocly\'s recommended rules: no error, no warning', async (t) => {
  t.same(report(await lintWithRedocly(source, file)), [])
})

t.test('openapi.json passes Spectral\'s spectral:oas ruleset: no error, no warning', async (t) => {
  t.same(report(await lintWithSpectral(source, file)), [])
})

t.test('the linters find what they should: the document before issue 16 fails both', async (t) => {
  // The document as it was: no servers, public operations without security, no operationIds.
  const document = JSON.parse(source) as {
    servers?: unknown
    paths: Record<string, Record<string, { operationId?: string; security?: unknown }>>
  }
  delete document.servers
  for (const operation of Object.values(document.paths).flatMap((item) => Object.values(item))) {
    delete operation.operationId
    if (Array.isArray(operation.security) && operation.security.length === 0) delete operation.security
  }
  const old = JSON.stringify(document)
  const redocly = new Set((await lintWithRedocly(old, file)).map((finding) => finding.rule))
  const spectral = new Set((await lintWithSpectral(old, file)).map((finding) => finding.rule))
  t.ok(redocly.has('no-empty-servers') && redocly.has('security-defined') && redocly.has('operation-operationId'), [...redocly].join(', '))
  t.ok(spectral.has('oas3-api-servers') && spectral.has('operation-operationId'), [...spectral].join(', '))
})
