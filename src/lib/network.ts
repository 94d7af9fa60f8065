/**
 * The network a client address is budgeted by: an IPv4 address as it is, an IPv6 address by its
 * /64 (one customer's allocation: a single host can use every address in it), and an IPv4 address
 * written as IPv6 (::ffff:a.b.c.d) as the IPv4 address it is. Anything unparseable is kept whole.
 */
export function clientNetwork(address: string): string {
  return clientNetworks(address).network
}

/**
 * The client's network, and for IPv6 also the /48 around it (a site's usual allocation, 65,536
 * /64s), which gets a wider budget of its own so that rotating through /64s does not multiply it.
 */
export function clientNetworks(address: string): { network: string; wide?: string } {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  if (mapped) return { network: mapped[1]! }
  if (!address.includes(':')) return { network: address }
  const groups = ipv6Groups(address)
  return groups ? { network: `${groups.slice(0, 4).join(':')}::/64`, wide: `${groups.slice(0, 3).join(':')}::/48` } : { network: address }
}

/** The eight groups of an IPv6 address, lower-case without leading zeros; undefined when malformed. */
function ipv6Groups(address: string): string[] | undefined {
  const [withoutZone = ''] = address.split('%')
  const halves = withoutZone.split('::')
  if (halves.length > 2) return undefined
  const split = (part: string | undefined) => {
    if (!part) return []
    const groups = part.split(':')
    // A trailing dotted IPv4 part stands for two groups; only the first 64 bits matter here.
    if (groups.at(-1)?.includes('.')) groups.splice(-1, 1, '0', '0')
    return groups
  }
  const head = split(halves[0])
  const tail = halves.length === 2 ? split(halves[1]) : undefined
  const groups = tail === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail]
  if (groups.length !== 8 || (tail !== undefined && head.length + tail.length > 7)) return undefined
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined
  return groups.map((group) => Number.parseInt(group, 16).toString(16))
}
