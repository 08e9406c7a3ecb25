import { BlockList, isIPv4 } from 'node:net';

/** The allowed peers as a `BlockList`, which matches addresses and subnets of both families. */
export function toBlockList(allow: string[]): BlockList {
  const list = new BlockList();
  for (const entry of allow) {
    const [address, bits] = entry.split('/');
    const family = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** Whether a connection's peer address is on the list. */
export function isAllowed(list: BlockList, peer: string | undefined): boolean {
  if (!peer) return false;
  // A dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`.
  const v4 = IPV4_MAPPED.exec(peer)?.[1] ?? (isIPv4(peer) ? peer : undefined);
  return v4 ? list.check(v4, 'ipv4') : list.check(peer, 'ipv6');
}
