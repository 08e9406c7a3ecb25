import { BlockList, isIP } from 'node:net';

/** An address or `address/bits` as a block list entry. */
function addTo(list: BlockList, entry: string): void {
  const [address, bits] = entry.split('/');
  const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  if (bits === undefined) list.addAddress(address, type);
  else list.addSubnet(address, Number(bits), type);
}

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) addTo(list, entry);
  return list;
}

/**
 * Which client addresses a route refuses: any in a `deny` list, and, where `allow` lists are
 * given (the top-level one, the route's), any missing from one of them. Node's `BlockList` does
 * the matching, IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) included.
 */
export class AddressRules {
  private readonly denied: BlockList;
  private readonly allowed: BlockList[];

  private constructor(deny: readonly string[], allowLists: readonly (readonly string[])[]) {
    this.denied = blockListOf(deny);
    this.allowed = allowLists.map(blockListOf);
  }

  /** The rules of a route under the top-level ones; none when neither has any. */
  static of(top: { allow: readonly string[]; deny: readonly string[] }, route: { allow: readonly string[]; deny: readonly string[] }): AddressRules | undefined {
    const deny = [...top.deny, ...route.deny];
    const allowLists = [top.allow, route.allow].filter((list) => list.length > 0);
    if (deny.length === 0 && allowLists.length === 0) return undefined;
    return new AddressRules(deny, allowLists);
  }

  /** Whether a client at `address` is refused; one without a known address (its socket gone) is. */
  refuses(address: string | undefined): boolean {
    const type = address ? isIP(address) : 0;
    if (type === 0) return true;
    const family = type === 4 ? 'ipv4' : 'ipv6';
    if (this.denied.check(address!, family)) return true;
    return this.allowed.some((list) => !list.check(address!, family));
  }
}
