/**
 * The webhooks' rules that need no server: the address policy's verdicts
 * (the integration tests go through HTTP with each form), the system
 * resolver on a name that resolves to 127.0.0.1, the retry schedule, and
 * signatures as the standardwebhooks package checks them.
 */
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { ipv6Bytes, refusalReason, RefusedDestinationError, resolveDestination, systemResolver } from '../../services/webhooks/address-policy.js'
import { RETRY_MAX_MS, webhookRetryDelayMs } from '../../services/webhooks/retry.js'
import { formatSecret, newSecretBytes, signDelivery } from '../../services/webhooks/signing.js'

t.test('public addresses pass, in every form; internal ones are refused, also embedded in IPv6', async (t) => {
  for (const address of ['8.8.8.8', '1.1.1.1', '93.184.215.14', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '172.32.0.1', '100.128.0.1', '11.0.0.1']) {
    t.equal(refusalReason(address, false), undefined, address)
  }
  for (const [address, reason] of [
    ['127.0.0.1', /loopback/], ['::1', /loopback/], ['::ffff:7f00:1', /loopback.*127\.0\.0\.1/], ['64:ff9b::a00:1', /private.*10\.0\.0\.1/],
    ['2002:c0a8:101::', /private.*192\.168\.1\.1/], ['fe80::1%eth0', /link-local/], ['fec0::1', /site-local/], ['64:ff9b:1::1', /reserved/],
    ['198.18.0.1', /benchmarking/], ['192.0.0.8', /IETF/], ['3fff::1', /documentation/], ['::ffff:0:a9fe:a9fe', /metadata/]
  ] as const) {
    t.match(refusalReason(address, false), reason, address)
  }
  t.equal(refusalReason('10.0.0.1', true), undefined, 'WEBHOOKS_ALLOW_PRIVATE_URLS lifts the address rules')
  t.equal(refusalReason('::1', true), undefined)
  t.match(refusalReason('169.254.169.254', true), /metadata/, 'but not for cloud metadata')
  t.match(refusalReason('::ffff:169.254.169.254', true), /metadata/)
  t.match(refusalReason('fd00:ec2::254', true), /metadata/)
})

t.test('IPv6 text to bytes, with :: and a dotted IPv4 tail', async (t) => {
  const hex = (text: string) => Buffer.from(ipv6Bytes(text) ?? []).toString('hex')
  t.equal(hex('::1'), '00000000000000000000000000000001')
  t.equal(hex('::ffff:127.0.0.1'), '00000000000000000000ffff7f000001')
  t.equal(hex('2001:db8::8a2e:370:7334'), '20010db80000000000008a2e03707334')
  t.equal(hex('fe80::1%eth0'), 'fe800000000000000000000000000001')
  t.equal(hex('1:2:3:4:5:6:7:8'), '00010002000300040005000600070008')
  t.equal(ipv6Bytes('127.0.0.1'), undefined)
  t.equal(ipv6Bytes('not an address'), undefined)
})

t.test('a name the system resolves to 127.0.0.1 (localhost, from the hosts file) is refused', async (t) => {
  const refusal = await resolveDestination(new URL('https://localhost/hook'), { allowPrivate: false, resolve: systemResolver }).catch((error: unknown) => error)
  t.type(refusal, RefusedDestinationError)
  t.match((refusal as Error).message, /^localhost resolves to (127\.0\.0\.1|::1), a loopback address/)
  t.match(await resolveDestination(new URL('http://localhost/'), { allowPrivate: true, resolve: systemResolver }), [{ address: /^(127\.0\.0\.1|::1)$/ }],
    'allowed when private URLs are')
})

t.test('the retry schedule: 4 times longer each time from the base, at most 6 hours, jittered by up to 25%; about a day with the defaults', async (t) => {
  const middle = () => 0.5
  const waits = Array.from({ length: 9 }, (_, index) => webhookRetryDelayMs(index + 1, 15_000, middle))
  t.same(waits, [15_000, 60_000, 240_000, 960_000, 3_840_000, 15_360_000, RETRY_MAX_MS, RETRY_MAX_MS, RETRY_MAX_MS])
  const total = waits.reduce((sum, wait) => sum + wait, 0)
  t.equal(total, 85_275_000, '23 h 41 min from the first attempt to the tenth')
  t.equal(webhookRetryDelayMs(1, 15_000, () => 0), 11_250)
  t.equal(webhookRetryDelayMs(1, 15_000, () => 1), 18_750)
  t.equal(webhookRetryDelayMs(30, 15_000, () => 1), RETRY_MAX_MS * 1.25)
})

t.test('signatures: Standard Webhooks v1, one per secret, each verified by the standardwebhooks package', async (t) => {
  const [current, previous] = [newSecretBytes(), newSecretBytes()]
  const body = JSON.stringify({ type: 'task.created', timestamp: new Date().toISOString(), data: { task: { id: 'x' } } })
  const headers = signDelivery('0b9a3c0e-5f57-4a8e-9d3b-2c6f1e7a4d10', new Date(), body, [current, previous])
  t.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/)
  t.same(new Webhook(formatSecret(current)).verify(body, { ...headers }), JSON.parse(body))
  t.same(new Webhook(formatSecret(previous)).verify(body, { ...headers }), JSON.parse(body))
  t.throws(() => new Webhook(formatSecret(newSecretBytes())).verify(body, { ...headers }))
})
