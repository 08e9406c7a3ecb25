import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { StoreStats } from '../cache/stores/response-store.interface.js';

/** Why an exchange with a service failed, as the metrics count it. */
export type UpstreamErrorKind = 'refused' | 'timeout' | 'reset' | 'other';

const PREFIX = 'nest_gateway_';
const ignoreExchange = () => undefined;

/**
 * The gateway's Prometheus metrics, in a registry of its own (a host application's global
 * registry is left alone). Everything is counted where the exchange ends, from what the
 * response says; cache store figures are read when scraped.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: `${PREFIX}requests_total`,
    help: 'Requests to gateway routes, by route prefix, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Time from the request to the end of its response, by route prefix',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly inFlight = new Gauge({
    name: `${PREFIX}requests_in_flight`,
    help: 'Requests to gateway routes being served',
    registers: [this.registry],
  });
  private readonly upstreamErrors = new Counter({
    name: `${PREFIX}upstream_errors_total`,
    help: 'Failed exchanges with services, by route prefix and kind (refused, timeout, reset, other)',
    labelNames: ['route', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly cacheResults = new Counter({
    name: `${PREFIX}cache_requests_total`,
    help: 'Requests to cached routes, by route prefix and result (HIT, MISS, BYPASS)',
    labelNames: ['route', 'result'] as const,
    registers: [this.registry],
  });

  /**
   * @param counting false when nobody reads the metrics (`metrics: false`): no process metrics
   *   are sampled and requests cost no metrics call.
   */
  constructor(
    storeStats?: () => StoreStats,
    private readonly counting = true,
  ) {
    if (!counting) return;
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    if (!storeStats) return;
    const stat = (name: string, help: string, read: (stats: StoreStats) => number) =>
      new Gauge({
        name: `${PREFIX}cache_${name}`,
        help,
        registers: [this.registry],
        collect() {
          this.set(read(storeStats()));
        },
      });
    stat('entries', 'Entries in the memory cache', (stats) => stats.entries);
    stat('bytes', 'Bytes held by the memory cache, bodies and bookkeeping', (stats) => stats.bytes);
    stat('evictions', 'Entries evicted from the memory cache to make room, since start', (stats) => stats.evictions);
  }

  /** Counts a request now and returns what to call when its response has ended. */
  startExchange(route: string, method: string): (status: number, cache: string | undefined) => void {
    if (!this.counting) return ignoreExchange;
    this.inFlight.inc();
    const stopTimer = this.duration.startTimer({ route });
    return (status, cache) => {
      this.inFlight.dec();
      stopTimer();
      this.requests.inc({ route, method, status });
      if (cache) this.cacheResults.inc({ route, result: cache });
    };
  }

  upstreamError(route: string, kind: UpstreamErrorKind): void {
    this.upstreamErrors.inc({ route, kind });
  }
}
