/** The last lines PostgreSQL logged, to quote when it exits during startup. */
export function createLogTail (limit: number): { push: (chunk: string) => string[]; text: () => string } {
  const lines: string[] = []
  return {
    push: (chunk) => {
      const added = chunk.split(/\r?\n/).map((line) => line.trimEnd()).filter((line) => line !== '')
      lines.push(...added)
      lines.splice(0, Math.max(0, lines.length - limit))
      return added
    },
    text: () => lines.length === 0 ? '(nothing logged)' : lines.join('\n')
  }
}
