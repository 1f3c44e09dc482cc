/** The raw argon2id verify rate: the ceiling of POST /auth/login on this machine. */
import { createPasswordHasher, type Argon2Parameters } from '../services/auth/passwords.js'
import { BENCH_PASSWORD } from './seed.js'
import { round } from './support.js'

export interface Argon2Run {
  concurrency: number
  repetition: number
  verifies: number
  seconds: number
  verifiesPerSecond: number
  /** CPU time of this process (the thread pool's included) per verification. */
  cpuMicrosPerVerify: number
}

/**
 * Verifies one password against one hash with `concurrency` calls in flight
 * for `durationSeconds`, through the app's own password hasher (what login
 * runs), so the same native binding and libuv thread pool
 * (UV_THREADPOOL_SIZE, 4 by default).
 */
export async function argon2VerifyRate (
  parameters: Argon2Parameters, concurrency: number, durationSeconds: number, repetition: number
): Promise<Argon2Run> {
  const hasher = createPasswordHasher(parameters)
  const hash = await hasher.hash(BENCH_PASSWORD)
  const started = performance.now()
  const cpuAtStart = process.cpuUsage()
  const deadline = started + durationSeconds * 1000
  let verifies = 0
  let lastDone = started
  const lane = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if (!(await hasher.verify(hash, BENCH_PASSWORD)).valid) throw new Error('argon2 verify failed on its own hash')
      verifies += 1
      lastDone = performance.now()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  const cpu = process.cpuUsage(cpuAtStart)
  const seconds = (lastDone - started) / 1000
  return {
    concurrency,
    repetition,
    verifies,
    seconds: round(seconds, 3),
    verifiesPerSecond: round(verifies / seconds, 1),
    cpuMicrosPerVerify: round((cpu.user + cpu.system) / verifies)
  }
}
