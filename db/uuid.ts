/** A uuid as PostgreSQL writes it (lower case), for JSON schemas. */
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
const UUID = new RegExp(UUID_PATTERN, 'i')

/** Ids from URLs are checked before they reach SQL, where a malformed uuid is an error rather than "no row". */
export function isUuid (value: string): boolean {
  return UUID.test(value)
}
