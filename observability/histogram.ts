/**
 * A Prometheus histogram for the hot path: one observation per request and
 * one per query. prom-client's Histogram checks the labels object, builds a
 * key string from its sorted names and values, and turns the bucket bound it
 * finds into a property name, on every observe (about 1 µs, some 2% of a
 * /health/live request); here a series is found in a Map by its label values
 * and an observation adds to three numbers. Rendered in the text format
 * prom-client writes its own histograms in, with a `_total` counter of the
 * same counts beside it if asked (the conventional name of the count).
 */

interface Series {
  /** Label pairs as they appear between the braces: method="GET",route="/tasks". */
  labels: string
  /** Observations per bucket, not cumulative; the last one is +Inf. */
  buckets: number[]
  sum: number
  count: number
}

export interface HistogramOptions<L extends string> {
  name: string
  help: string
  labelNames: readonly L[]
  /** Upper bounds, ascending. */
  buckets: readonly number[]
  /** A counter of the same observations, rendered from the counts: `{name}_total` by convention. */
  counter?: { name: string; help: string }
}

const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const escapeLabelValue = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
// A separator no label value holds in practice; a value that does only shares a series with its twin, it never loses one.
const KEY_SEPARATOR = '\u0000'

export class LabelledHistogram<L extends string> {
  readonly #options: HistogramOptions<L>
  readonly #series = new Map<string, Series>()

  constructor (options: HistogramOptions<L>) {
    this.#options = options
  }

  /** Records one value; `labels` holds a value for each label name, in their order. */
  observe (labels: readonly string[], value: number): void {
    // prom-client throws on these; a NaN would spoil the sum for good.
    if (!Number.isFinite(value)) return
    const key = labels.length === 1 ? labels[0] ?? '' : labels.join(KEY_SEPARATOR)
    let series = this.#series.get(key)
    if (series === undefined) {
      series = {
        labels: this.#options.labelNames.map((name, index) => `${name}="${escapeLabelValue(labels[index] ?? '')}"`).join(','),
        buckets: new Array<number>(this.#options.buckets.length + 1).fill(0),
        sum: 0,
        count: 0
      }
      this.#series.set(key, series)
    }
    const bounds = this.#options.buckets
    let bucket = 0
    while (bucket < bounds.length && value > (bounds[bucket] ?? Infinity)) bucket++
    series.buckets[bucket] = (series.buckets[bucket] ?? 0) + 1
    series.sum += value
    series.count++
  }

  /** The histogram (and its counter) in the Prometheus text format, each metric a block ending in a newline. */
  render (): string[] {
    const { name, help, buckets, counter } = this.#options
    const histogram = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`]
    const total = counter === undefined ? [] : [`# HELP ${counter.name} ${escapeHelp(counter.help)}`, `# TYPE ${counter.name} counter`]
    for (const series of this.#series.values()) {
      const labels = series.labels === '' ? '' : `,${series.labels}`
      let cumulative = 0
      buckets.forEach((bound, index) => {
        cumulative += series.buckets[index] ?? 0
        histogram.push(`${name}_bucket{le="${bound}"${labels}} ${cumulative}`)
      })
      histogram.push(`${name}_bucket{le="+Inf"${labels}} ${series.count}`)
      const braces = series.labels === '' ? '' : `{${series.labels}}`
      histogram.push(`${name}_sum${braces} ${series.sum}`, `${name}_count${braces} ${series.count}`)
      total.push(`${counter?.name ?? ''}${braces} ${series.count}`)
    }
    return counter === undefined ? [`${histogram.join('\n')}\n`] : [`${histogram.join('\n')}\n`, `${total.join('\n')}\n`]
  }
}
