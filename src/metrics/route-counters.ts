/** Why an exchange with a service failed, as the metrics count it. */
export type UpstreamErrorKind = 'refused' | 'timeout' | 'reset' | 'other';

/** What the cache said of a request to a cached route. */
export type CacheResultLabel = 'HIT' | 'STALE' | 'MISS' | 'BYPASS';

/** Upper bounds of the request duration buckets, in seconds. */
export const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The figures of one route, as plain numbers an exchange bumps as it starts and ends: a request
 * costs a few increments and one bucket search, and prom-client turns them into samples only
 * when the metrics are scraped.
 */
export class RouteCounters {
  inFlight = 0;
  /** Requests by method, then by status. */
  readonly requests = new Map<string, Map<number, number>>();
  /** Requests per duration bucket (not cumulative); the last slot is `+Inf`. */
  readonly durationBuckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  durationSum = 0;
  durationCount = 0;
  readonly cacheResults: Record<CacheResultLabel, number> = { HIT: 0, STALE: 0, MISS: 0, BYPASS: 0 };
  readonly upstreamErrors: Record<UpstreamErrorKind, number> = { refused: 0, timeout: 0, reset: 0, other: 0 };
  /** Attempts beyond a request's first. */
  retries = 0;
  /** Targets taken out by outlier detection. */
  ejections = 0;
  /** Active health checks, by result. */
  readonly healthChecks: Record<'pass' | 'fail', number> = { pass: 0, fail: 0 };
  /** Requests the route's access checks refused, by reason. */
  readonly refusals: Record<'ip' | 'rate_limit' | 'auth', number> = { ip: 0, rate_limit: 0, auth: 0 };
  /** Whether the route's Redis-counted rate limits reach Redis now; routes without any have none. */
  rateLimitStoreUp?: () => boolean;
  /**
   * The route's targets, whether each takes requests now, and whether outlier detection holds it
   * out (neither: its health checks fail); routes with one plain target have none.
   */
  targets?: () => { target: string; up: boolean; ejected: boolean }[];

  constructor(readonly route: string) {}

  begin(): void {
    this.inFlight += 1;
  }

  end(method: string, status: number, seconds: number, cache: CacheResultLabel | undefined): void {
    this.inFlight -= 1;
    let byStatus = this.requests.get(method);
    if (!byStatus) this.requests.set(method, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]) bucket += 1;
    this.durationBuckets[bucket] += 1;
    this.durationSum += seconds;
    this.durationCount += 1;
    if (cache) this.cacheResults[cache] += 1;
  }

  refused(reason: keyof RouteCounters['refusals']): void {
    this.refusals[reason] += 1;
  }

  upstreamFailed(kind: UpstreamErrorKind): void {
    this.upstreamErrors[kind] += 1;
  }
}
