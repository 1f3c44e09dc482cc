/** The row an `insert … returning` or `update … returning` must have produced. */
export function firstRow<T> (rows: readonly T[]): T {
  const [row] = rows
  if (row === undefined) throw new Error('the statement returned no row')
  return row
}
