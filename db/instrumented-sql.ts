import type { Sql, TransactionSql } from './client.js'

/** What may be said of a query in a span, a metric or a log line: its shape, never its values. */
export interface QueryStatement {
  /** The operation and its first table, e.g. "SELECT users", "INSERT jobs"; the span's name. */
  summary: string
  operation: string
  table: string | undefined
  /**
   * The statement as written, with $1, $2, ... where the values go (tagged
   * templates keep values out of the text). Undefined for sql.unsafe(),
   * whose text may have values spliced in.
   */
  text: string | undefined
}

export interface QueryObserver {
  /** Called as a query starts, in its caller's async context; the function it returns is called once when the query settles. */
  start: (statement: QueryStatement) => (error: unknown) => void
}

const MAX_TEXT_LENGTH = 2000
const FIRST_KEYWORD = /^\s*(?:--[^\n]*\n\s*)*([a-z]+)/i
// The first relation after INTO, UPDATE, JOIN or FROM; a function call (`from unnest(...)`) is not one.
const FIRST_TABLE = /\b(?:(?:into|update|join)\s+([a-z_][\w.]*)|from\s+([a-z_][\w.]*)\b(?!\s*\())/i

export function describeStatement (text: string, keepText: boolean): QueryStatement {
  const operation = FIRST_KEYWORD.exec(text)?.[1]?.toUpperCase() ?? 'QUERY'
  const match = FIRST_TABLE.exec(text)
  const table = (match?.[1] ?? match?.[2])?.toLowerCase()
  return {
    summary: table === undefined ? operation : `${operation} ${table}`,
    operation,
    table,
    text: keepText ? text.replace(/\s+/g, ' ').trim().slice(0, MAX_TEXT_LENGTH) : undefined
  }
}

// A tagged template's strings array is the same object at every call from one place in the code: describe it once.
const templates = new WeakMap<TemplateStringsArray, QueryStatement>()

function describeTemplate (strings: TemplateStringsArray): QueryStatement {
  let statement = templates.get(strings)
  if (statement === undefined) {
    statement = describeStatement(strings.reduce((text, part, index) => `${text}$${index}${part}`), true)
    templates.set(strings, statement)
  }
  return statement
}

function isTemplate (value: unknown): value is TemplateStringsArray {
  return Array.isArray(value) && Array.isArray((value as unknown as TemplateStringsArray).raw)
}

type Then = (this: unknown, onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) => PromiseLike<unknown>

/** What a query of an instrumented client carries until it runs: whom to report to, and how to describe it. */
interface Observation {
  observer: QueryObserver
  /** A tagged template's strings (described once, then cached), or unsafe()'s text. */
  source: TemplateStringsArray | string
}

// On the query itself, under a symbol: a property named `then` on a promise instance would cost every await in the
// process (V8 gives up its fast path for all promises once any has an own `then`: about 20% more per await on Node 26).
const OBSERVATION = Symbol('taskforge.queryObservation')
type Observed = object & { [OBSERVATION]?: Observation | undefined }

// postgres.js's query classes whose `then` starts observations (there is one; a WeakSet, should another version come).
const patched = new WeakSet<object>()

/**
 * postgres.js queries are lazy promises: a query runs when it is first
 * awaited (its `then` is called), and a fragment nested in another query is
 * never awaited at all. So the observation starts at that first `then` and
 * ends when the query settles; the time includes any wait for a free
 * connection. The query class's `then` is wrapped once, for every query
 * (one the client did not mark passes straight through); a query is only
 * marked.
 */
function observe (query: unknown, source: TemplateStringsArray | string, observer: QueryObserver): void {
  if (typeof query !== 'object' || query === null) return
  const prototype: unknown = Object.getPrototypeOf(query)
  if (typeof prototype !== 'object' || prototype === null) return
  if (!patched.has(prototype)) {
    const then: unknown = Reflect.get(prototype, 'then')
    if (typeof then !== 'function') return
    wrapThen(prototype, then as Then)
    patched.add(prototype)
  }
  (query as Observed)[OBSERVATION] = { observer, source }
}

function wrapThen (prototype: object, originalThen: Then): void {
  Object.defineProperty(prototype, 'then', {
    configurable: true,
    writable: true,
    value (this: Observed, onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) {
      const observation = this[OBSERVATION]
      if (observation === undefined) return originalThen.call(this, onFulfilled, onRejected)
      this[OBSERVATION] = undefined
      const { source } = observation
      const finish = observation.observer.start(typeof source === 'string' ? describeStatement(source, false) : describeTemplate(source))
      // The first caller's callbacks learn the outcome first: no second promise chain just to watch it.
      return originalThen.call(this, (value: unknown) => {
        finish(undefined)
        return typeof onFulfilled === 'function' ? onFulfilled(value) : value
      }, (error: unknown) => {
        finish(error)
        if (typeof onRejected !== 'function') throw error
        return onRejected(error)
      })
    }
  })
}

type Callback = (sql: TransactionSql) => unknown

/** begin(fn), begin(options, fn), savepoint(fn), savepoint(name, fn): the callback gets an observed transaction. */
function observeCallback (method: unknown, target: object, observer: QueryObserver): unknown {
  if (typeof method !== 'function') return method
  return (...args: unknown[]) => {
    const last = args.length - 1
    const callback = args[last]
    if (typeof callback === 'function') args[last] = (tx: TransactionSql) => (callback as Callback)(instrumentSql(tx, observer))
    return (method as (...args: unknown[]) => unknown).apply(target, args)
  }
}

/**
 * The same client, with every query it runs (tagged templates, unsafe(),
 * and those of its transactions and savepoints) reported to the observer.
 * Parameters are never looked at.
 */
export function instrumentSql<S extends Sql | TransactionSql> (sql: S, observer: QueryObserver): S {
  return new Proxy(sql, {
    apply (target, thisArgument, args: unknown[]) {
      const query: unknown = Reflect.apply(target, thisArgument, args)
      const strings = args[0]
      if (isTemplate(strings)) observe(query, strings, observer)
      return query
    },
    get (target, property) {
      const value: unknown = Reflect.get(target, property)
      if (property === 'begin' || property === 'savepoint') return observeCallback(value, target, observer)
      if (property === 'unsafe' && typeof value === 'function') {
        return (...args: unknown[]) => {
          const query: unknown = (value as (...args: unknown[]) => unknown).apply(target, args)
          const text = args[0]
          observe(query, typeof text === 'string' ? text : '', observer)
          return query
        }
      }
      return value
    }
  })
}
