import postgres from 'postgres'
import t from 'tap'
import { toDomainError } from '../../db/errors.js'
import { NotFoundError } from '../../errors.js'

function postgresError (code: string): postgres.PostgresError {
  const error = new postgres.PostgresError('from the server')
  error.code = code
  return error
}

function connectionError (code: string): Error {
  return Object.assign(new Error(`write ${code}`), { code })
}

t.test('PostgreSQL errors map to kinds', async (t) => {
  t.match(toDomainError(postgresError('23505')), { kind: 'conflict', name: 'ConflictError' })
  t.match(toDomainError(postgresError('23503')), { kind: 'conflict' })
  t.match(toDomainError(postgresError('23514')), { kind: 'unprocessable' })
  for (const transient of ['40001', '40P01', '57014', '57P01', '57P03', '53300', '08006']) {
    t.match(toDomainError(postgresError(transient)), { kind: 'unavailable' }, transient)
  }
  const mapped = toDomainError(postgresError('23505'))
  t.ok(mapped instanceof Error && mapped.cause instanceof postgres.PostgresError, 'the original is kept as cause for the logs')
})

t.test('lost connections are "unavailable"', async (t) => {
  for (const code of ['ECONNREFUSED', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT', 'ECONNRESET']) {
    t.match(toDomainError(connectionError(code)), { kind: 'unavailable' }, code)
  }
})

t.test('anything else passes through unchanged', async (t) => {
  const syntax = postgresError('42601')
  t.equal(toDomainError(syntax), syntax)
  const plain = new Error('bug')
  t.equal(toDomainError(plain), plain)
  const domain = new NotFoundError()
  t.equal(toDomainError(domain), domain)
  const unknownCode = connectionError('EACCES')
  t.equal(toDomainError(unknownCode), unknownCode)
})
