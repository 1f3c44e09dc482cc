import t from 'tap'
import { median } from '../../bench/support.js'

t.test('the bench\'s median leaves out failed repetitions (NaN) instead of sorting them among the others', async (t) => {
  t.equal(median([13035, Number.NaN, 7132, 13406, 18965]), (13035 + 13406) / 2)
  t.equal(median([3, 1, 2]), 2)
  t.ok(Number.isNaN(median([Number.NaN])), 'nothing left: NaN')
  t.ok(Number.isNaN(median([])))
})
