/** CI=true (as .ci/run is started): a missing tool a test needs (Chromium, HAProxy) is a failure there, not a skip. */
export function inCi (): boolean {
  const value = process.env.CI
  return value !== undefined && value !== '' && value !== 'false' && value !== '0'
}
