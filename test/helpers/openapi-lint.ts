/**
 * The OpenAPI linters that npm test runs on openapi.json, with their
 * configurations: Redocly's recommended rules and Spectral's spectral:oas
 * ruleset, each with the few changes below and why. Both run offline.
 */
import { createConfig, lintFromString, type RawUniversalConfig } from '@redocly/openapi-core'
import spectralCore from '@stoplight/spectral-core'
import Parsers from '@stoplight/spectral-parsers'
import { oas } from '@stoplight/spectral-rulesets'

export interface LintFinding {
  tool: 'redocly' | 'spectral'
  severity: 'error' | 'warning'
  rule: string
  message: string
  /** Where in the document, as a JSON pointer or path. */
  at: string
}

const REDOCLY_CONFIG: RawUniversalConfig = {
  extends: ['recommended'],
  rules: {
    // taskforge is not published under a license (package.json is private, the client UNLICENSED): there is none to name.
    'info-license': 'off',
    // Stricter than recommended: every parameter says what it is for.
    'parameter-description': 'error'
  }
}

const SPECTRAL_RULESET = {
  extends: [[oas, 'recommended']],
  rules: {
    // Each deployment is run by someone else; the API has no public contact to name (a deployment may add its own).
    'info-contact': 'off',
    // It wants every scope in a security requirement listed by its scheme, which only OAuth2 schemes can do; OpenAPI 3.1
    // (Security Requirement Object) lets other schemes list the roles required, which is how a route names the scope a
    // personal access token needs. Redocly's security-defined still checks that every scheme used is defined.
    'oas3-operation-security-defined': 'off',
    // Stricter than recommended: every parameter says what it is for.
    'oas3-parameter-description': 'error'
  }
}

export async function lintWithRedocly (source: string, file: string): Promise<LintFinding[]> {
  const config = await createConfig(REDOCLY_CONFIG)
  const problems = await lintFromString({ source, absoluteRef: file, config })
  return problems.map((problem) => ({
    tool: 'redocly',
    severity: problem.severity === 'error' ? 'error' : 'warning',
    rule: problem.ruleId,
    message: problem.message,
    at: problem.location[0]?.pointer ?? ''
  }))
}

// Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
const SPECTRAL_ERROR = 0
const SPECTRAL_WARNING = 1

export async function lintWithSpectral (source: string, file: string): Promise<LintFinding[]> {
  const spectral = new spectralCore.Spectral()
  // The ruleset's types describe it loosely (rulesets may be JSON): this one is spectral:oas itself, extended.
  spectral.setRuleset(SPECTRAL_RULESET as unknown as Parameters<typeof spectral.setRuleset>[0])
  const results = await spectral.run(new spectralCore.Document(source, Parsers.Json, file))
  // Its DiagnosticSeverity enum lives in @stoplight/types; its values are these numbers.
  const severityOf = (result: { severity: number }): number => result.severity
  return results.filter((result) => severityOf(result) <= SPECTRAL_WARNING).map((result) => ({
    tool: 'spectral',
    severity: severityOf(result) === SPECTRAL_ERROR ? 'error' : 'warning',
    rule: String(result.code),
    message: result.message,
    at: result.path.join('.')
  }))
}
