import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import type { Test } from 'tap'
import { inCi } from './ci.js'

/** Debian's Chromium (apt-get install chromium); .ci/run installs it when missing. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/**
 * Flags for a headless Chromium on a machine without internet, running as root:
 * no sandbox (root), no GPU, and none of Chromium's own calls home (background
 * networking, QUIC, component updates, sync, first-run), which this network refuses.
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync'
]

/**
 * Why a browser test cannot run here, or undefined when it can. Outside CI a
 * missing Chromium skips the test; in CI it fails it (the caller asserts).
 */
export function chromiumSkipReason (): string | undefined {
  if (existsSync(CHROMIUM_PATH) || inCi()) return undefined
  return `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install chromium) to run this browser test; in CI (CI=true) this is a failure`
}

/**
 * Headless Chromium with a fresh, empty profile directory, closed and removed
 * when the test ends. Playwright refuses `--user-data-dir` in args, so the
 * fresh profile is passed the way it wants it: a persistent context on a new folder.
 */
export async function launchChromium (t: Test): Promise<BrowserContext> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'taskforge-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
    timeout: 30_000
  }).catch(async (error: unknown) => {
    await rm(userDataDir, { recursive: true, force: true })
    throw error
  })
  t.teardown(async () => {
    await context.close()
    await rm(userDataDir, { recursive: true, force: true })
  })
  return context
}
