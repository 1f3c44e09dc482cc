import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import type { Test } from 'tap'
import { databaseUrl, readTestServerState } from './test-server.js'

export interface TestDatabase {
  name: string
  url: string
  drop: () => Promise<void>
}

interface TestDatabaseOptions {
  /** false: an empty database (for migrator tests) instead of a copy of the migrated template. */
  migrated?: boolean
  /** false: the caller drops it, e.g. after closing an app that uses it. */
  dropOnTeardown?: boolean
}

/**
 * A database of this test's own, dropped when the test ends: a copy of the
 * migrated template, which is far faster than migrating each time.
 */
export async function createTestDatabase (
  t: Test, { migrated = true, dropOnTeardown = true }: TestDatabaseOptions = {}
): Promise<TestDatabase> {
  const state = readTestServerState()
  const name = `${state.prefix}${randomBytes(6).toString('hex')}`
  const admin = postgres(state.adminUrl, { max: 1, onnotice: () => undefined })
  try {
    // Names come from this run's prefix and random hex: safe to splice into DDL.
    await admin.unsafe(`create database ${name} template ${migrated ? state.template : 'template0'}`)
  } finally {
    await admin.end()
  }
  const drop = async (): Promise<void> => {
    const dropper = postgres(state.adminUrl, { max: 1, onnotice: () => undefined })
    try {
      await dropper.unsafe(`drop database if exists ${name} with (force)`)
    } finally {
      await dropper.end()
    }
  }
  if (dropOnTeardown) t.teardown(drop)
  return { name, url: databaseUrl(state.adminUrl, name), drop }
}
