import { BadRequestError } from '../../errors.js'

const ENTITY_TAG = /^(W\/)?"([^"]*)"$/
const MAX_VERSION = 2_147_483_647 // versions are PostgreSQL integers

/** The ETag of a task: its version, as a strong entity tag. */
export function etagOf (task: { version: number }): string {
  return `"${task.version}"`
}

/**
 * The versions an If-Match header accepts: undefined for none or "*" (write
 * unconditionally, the task must exist), else the listed versions. Weak tags
 * never match under If-Match (RFC 9110 §13.1.1), and tags we never issue
 * cannot match either: they are left out, so that a list of only those
 * matches nothing and the write answers 412 (or 404 for a task that is not yours).
 */
export function expectedVersions (ifMatch: string | undefined): number[] | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined
  const versions: number[] = []
  for (const part of ifMatch.split(',').map((tag) => tag.trim())) {
    const match = ENTITY_TAG.exec(part)
    if (match === null) throw new BadRequestError('If-Match must be "*" or a list of quoted entity tags, e.g. "3"')
    const [, weak, opaque = ''] = match
    if (weak === undefined && /^[1-9]\d{0,9}$/.test(opaque) && Number(opaque) <= MAX_VERSION) versions.push(Number(opaque))
  }
  return versions
}
