/**
 * Where webhooks may send (SSRF): https only, and never to an internal
 * address — loopback, private, shared (CGNAT), link-local, unique-local,
 * multicast, unspecified, reserved and documentation ranges, the IPv6 forms
 * that embed such an IPv4 address (mapped, compatible, translated, NAT64,
 * 6to4), or a cloud metadata service. Checked when a webhook is saved and
 * again at every delivery, on the addresses the name resolves to then; the
 * delivery connects to one of exactly those addresses (services/webhooks/http.ts).
 */
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

/** Every address a host name resolves to. The default asks the system (getaddrinfo: /etc/hosts, then DNS); tests inject their own. */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>

export const systemResolver: HostResolver = async (hostname) => {
  const answers = await lookup(hostname, { all: true, verbatim: true })
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }))
}

export interface AddressPolicy {
  /** WEBHOOKS_ALLOW_PRIVATE_URLS: http too, and internal addresses; cloud metadata stays refused. */
  allowPrivate: boolean
  resolve: HostResolver
}

/** A URL or address a webhook may not use; the message says why, for the owner (400) or the deliveries log. */
export class RefusedDestinationError extends Error {
  override name = 'RefusedDestinationError'
}

// Cloud metadata services: never a receiver, whatever WEBHOOKS_ALLOW_PRIVATE_URLS says. AWS (IMDS, ECS task
// metadata, IMDS over IPv6), GCP, Azure and Oracle (169.254.169.254), Alibaba (100.100.100.200).
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog'])
const metadata = new BlockList()
metadata.addAddress('169.254.169.254', 'ipv4')
metadata.addAddress('169.254.170.2', 'ipv4')
metadata.addAddress('100.100.100.200', 'ipv4')
metadata.addAddress('fd00:ec2::254', 'ipv6')

/** IPv4 ranges that are not the public internet, with what to call them. */
const IPV4_RANGES: [string, number, string][] = [
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, 'a private address'],
  ['100.64.0.0', 10, 'a shared (carrier-grade NAT) address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address'],
  ['172.16.0.0', 12, 'a private address'],
  ['192.0.0.0', 24, 'an IETF protocol address'],
  ['192.0.2.0', 24, 'a documentation address'],
  ['192.88.99.0', 24, 'a 6to4 relay address'],
  ['192.168.0.0', 16, 'a private address'],
  ['198.18.0.0', 15, 'a benchmarking address'],
  ['198.51.100.0', 24, 'a documentation address'],
  ['203.0.113.0', 24, 'a documentation address'],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved or broadcast address']
]

/** IPv6 ranges inside the global unicast space (2000::/3) that are not the public internet. */
const IPV6_RANGES: [string, number, string][] = [
  ['2001::', 23, 'an IETF protocol address (Teredo and others)'],
  ['2001:db8::', 32, 'a documentation address'],
  ['3fff::', 20, 'a documentation address']
]

const ipv4Ranges = IPV4_RANGES.map(([network, prefix, reason]) => {
  const list = new BlockList()
  list.addSubnet(network, prefix, 'ipv4')
  return { list, reason }
})
const ipv6Ranges = IPV6_RANGES.map(([network, prefix, reason]) => {
  const list = new BlockList()
  list.addSubnet(network, prefix, 'ipv6')
  return { list, reason }
})

/** The 16 bytes of an IPv6 address (dotted IPv4 tail and zone id allowed), or undefined if it is not one. */
export function ipv6Bytes (text: string): Uint8Array | undefined {
  const address = text.replace(/%.*$/, '')
  if (isIP(address) !== 6) return undefined
  let tail: number[] = []
  let head = address
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  if (dotted?.[1] !== undefined) {
    tail = dotted[1].split('.').map(Number)
    head = address.slice(0, -dotted[1].length)
    head = head.endsWith('::') ? head : head.replace(/:$/, '')
  }
  const [left = '', right] = head.split('::')
  const groups = (part: string) => part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16))
  const leftGroups = groups(left)
  const rightGroups = right === undefined ? [] : groups(right)
  const tailGroups = tail.length === 4 ? [(tail[0] ?? 0) * 256 + (tail[1] ?? 0), (tail[2] ?? 0) * 256 + (tail[3] ?? 0)] : []
  const missing = 8 - leftGroups.length - rightGroups.length - tailGroups.length
  const all = [...leftGroups, ...Array<number>(right === undefined ? 0 : missing).fill(0), ...rightGroups, ...tailGroups]
  if (all.length !== 8) return undefined
  const bytes = new Uint8Array(16)
  all.forEach((group, index) => { bytes[index * 2] = group >> 8; bytes[index * 2 + 1] = group & 0xff })
  return bytes
}

const dottedQuad = (bytes: Uint8Array, offset: number) => Array.from(bytes.subarray(offset, offset + 4)).join('.')
const allZero = (bytes: Uint8Array, from: number, to: number) => bytes.subarray(from, to).every((byte) => byte === 0)

/**
 * The IPv4 address an IPv6 address stands for, where it embeds one that a
 * connection may end up at: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
 * (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d)
 * and 6to4 (2002:aabb:ccdd::).
 */
function embeddedIpv4 (bytes: Uint8Array): string | undefined {
  if (allZero(bytes, 0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return dottedQuad(bytes, 12)
  if (allZero(bytes, 0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && allZero(bytes, 10, 12)) return dottedQuad(bytes, 12)
  if (allZero(bytes, 0, 12) && !allZero(bytes, 12, 15)) return dottedQuad(bytes, 12)
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b
  if (nat64 && allZero(bytes, 4, 12)) return dottedQuad(bytes, 12)
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return dottedQuad(bytes, 2)
  return undefined
}

function ipv4Reason (address: string): string | undefined {
  return ipv4Ranges.find(({ list }) => list.check(address, 'ipv4'))?.reason
}

/** Why an IPv6 address is internal, or undefined for a public one. */
function ipv6Reason (address: string): string | undefined {
  const bytes = ipv6Bytes(address)
  if (bytes === undefined) return 'not an IP address'
  if (allZero(bytes, 0, 16)) return 'the unspecified address'
  if (allZero(bytes, 0, 15) && bytes[15] === 1) return 'a loopback address'
  const ipv4 = embeddedIpv4(bytes)
  if (ipv4 !== undefined) {
    const reason = ipv4Reason(ipv4)
    return reason === undefined ? undefined : `${reason} (${ipv4}, embedded in an IPv6 address)`
  }
  const first = bytes[0] ?? 0
  if (first === 0xff) return 'a multicast address'
  if ((first & 0xfe) === 0xfc) return 'a unique-local address'
  if (first === 0xfe && ((bytes[1] ?? 0) & 0xc0) === 0x80) return 'a link-local address'
  if (first === 0xfe && ((bytes[1] ?? 0) & 0xc0) === 0xc0) return 'a site-local address'
  // Outside 2000::/3 (global unicast) is reserved space: 100::/64 (discard), 64:ff9b:1::/48 (local NAT64), the rest unassigned.
  if ((first & 0xe0) !== 0x20) return 'a reserved address'
  return ipv6Ranges.find(({ list }) => list.check(address.replace(/%.*$/, ''), 'ipv6'))?.reason
}

function isMetadataAddress (address: string, family: 4 | 6): boolean {
  if (family === 4) return metadata.check(address, 'ipv4')
  const bytes = ipv6Bytes(address)
  const ipv4 = bytes === undefined ? undefined : embeddedIpv4(bytes)
  return ipv4 === undefined ? metadata.check(address.replace(/%.*$/, ''), 'ipv6') : metadata.check(ipv4, 'ipv4')
}

/** Why a webhook may not reach this address under the policy, or undefined when it may. */
export function refusalReason (address: string, allowPrivate: boolean): string | undefined {
  const family = isIP(address.replace(/%.*$/, ''))
  if (family === 0) return 'not an IP address'
  if (isMetadataAddress(address, family === 6 ? 6 : 4)) return 'a cloud metadata address'
  if (allowPrivate) return undefined
  return family === 4 ? ipv4Reason(address) : ipv6Reason(address)
}

/** The URL's host as an address or a name: WHATWG URL has already normalised 0x7f.1 and 2130706433 to 127.0.0.1. */
function hostOf (url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
}

/** Parses a webhook URL and checks its form: absolute, https (or http where allowed), no credentials. */
export function parseWebhookUrl (text: string, allowPrivate: boolean): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new RefusedDestinationError('url must be an absolute URL')
  }
  const schemes = allowPrivate ? ['https:', 'http:'] : ['https:']
  if (!schemes.includes(url.protocol)) {
    throw new RefusedDestinationError(allowPrivate ? 'url must be an http or https URL' : 'url must be an https URL')
  }
  if (url.username !== '' || url.password !== '') {
    throw new RefusedDestinationError('url must not carry credentials: receivers check the signature instead')
  }
  if (url.hostname === '') throw new RefusedDestinationError('url must name a host')
  return url
}

/**
 * The addresses a delivery to this URL may connect to: the IP literal, or
 * every address its name resolves to now, each checked. One refused address
 * refuses them all (a name that resolves to a public and an internal address
 * is no safer than the internal one).
 */
export async function resolveDestination (url: URL, policy: AddressPolicy): Promise<ResolvedAddress[]> {
  const host = hostOf(url)
  if (METADATA_HOSTS.has(host.toLowerCase().replace(/\.$/, ''))) {
    throw new RefusedDestinationError(`${url.hostname} is a cloud metadata service`)
  }
  const literal = isIP(host)
  let addresses: ResolvedAddress[]
  if (literal !== 0) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }]
  } else {
    try {
      addresses = await policy.resolve(host)
    } catch (error) {
      const code = error instanceof Error && 'code' in error ? String(error.code) : 'an error'
      throw new RefusedDestinationError(`${url.hostname} could not be resolved (${code})`)
    }
    if (addresses.length === 0) throw new RefusedDestinationError(`${url.hostname} could not be resolved (no address)`)
  }
  for (const { address } of addresses) {
    const reason = refusalReason(address, policy.allowPrivate)
    if (reason !== undefined) {
      const resolved = literal === 0 ? `${url.hostname} resolves to ${address}, ` : `${address} is `
      throw new RefusedDestinationError(`${resolved}${reason}: webhooks may not reach internal addresses`)
    }
  }
  return addresses
}

/** A URL a webhook may be saved with: well-formed, and resolving only to addresses it may reach. */
export async function checkWebhookUrl (text: string, policy: AddressPolicy): Promise<URL> {
  const url = parseWebhookUrl(text, policy.allowPrivate)
  await resolveDestination(url, policy)
  return url
}
