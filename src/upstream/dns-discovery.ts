import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';

/** A target as a pool takes it: the address to connect to, and the `Host` its requests carry. */
export interface PoolTarget {
  url: URL;
  weight: number;
  /** The name the route was given, sent as `Host` when `url` holds an address found for it. */
  host?: string;
}

/** Resolutions are never closer together than this, whatever the TTL says. */
const SHORTEST_INTERVAL_MS = 1000;

/**
 * DNS discovery for one route: each target whose host is a name becomes one target per address
 * it resolves to (A and AAAA), re-resolved when the records' TTL runs out and at least every
 * `interval`. A failed or empty resolution keeps what the last good one found (or the name
 * itself, before the first), so a DNS outage never empties a route.
 */
export class DnsDiscovery {
  private readonly resolver = new dns.Resolver({ timeout: 1000, tries: 2 });
  private readonly last = new Map<string, PoolTarget[]>();
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly targets: PoolTarget[],
    private readonly settings: { interval: number; servers?: string[] },
    private readonly found: (targets: PoolTarget[]) => void,
    private readonly failed: (name: string, error: Error) => void,
  ) {
    if (settings.servers) this.resolver.setServers(settings.servers);
  }

  start(): void {
    this.running = true;
    void this.resolveAll();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private async resolveAll(): Promise<void> {
    let next = this.settings.interval;
    const targets: PoolTarget[] = [];
    for (const target of this.targets) {
      const name = target.url.hostname;
      if (isIP(name.replace(/^\[|\]$/g, ''))) {
        targets.push(target);
        continue;
      }
      try {
        const records = await this.addresses(name);
        if (records.length === 0) throw new Error('no A or AAAA record');
        const resolved = records.map(({ address }) => ({ url: atAddress(target.url, address), weight: target.weight, host: target.url.host }));
        this.last.set(name, resolved);
        next = Math.min(next, ...records.map((record) => record.ttl * 1000));
      } catch (error) {
        this.failed(name, error as Error);
      }
      targets.push(...(this.last.get(name) ?? [target]));
    }
    if (!this.running) return;
    this.found(targets);
    this.timer = setTimeout(() => void this.resolveAll(), Math.max(next, SHORTEST_INTERVAL_MS));
    this.timer.unref();
  }

  /** The name's IPv4 and IPv6 addresses with their TTLs; a family without records adds none. */
  private async addresses(name: string): Promise<{ address: string; ttl: number }[]> {
    const noRecords = (error: NodeJS.ErrnoException) => {
      if (error.code === dns.NODATA || error.code === dns.NOTFOUND) return [];
      throw error;
    };
    const [v4, v6] = await Promise.all([this.resolver.resolve4(name, { ttl: true }).catch(noRecords), this.resolver.resolve6(name, { ttl: true }).catch(noRecords)]);
    return [...v4, ...v6];
  }
}

function atAddress(url: URL, address: string): URL {
  const at = new URL(url);
  at.hostname = isIP(address) === 6 ? `[${address}]` : address;
  return at;
}
