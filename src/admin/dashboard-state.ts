import type { ClusterMetrics } from '../metrics/cluster-metrics.js';
import { parseSamples, type Sample } from './prometheus-text.js';

/** What the page shows of a target: it takes requests, it fails (checks or requests), or outlier detection holds it out. */
export type TargetState = 'up' | 'down' | 'ejected';

/** One route as the page shows it; counts are since start, summed over workers. */
export interface DashboardRoute {
  prefix: string;
  targets: { url: string; state: TargetState }[];
  requests: number;
  /** Requests per second over the last refresh. */
  rate: number;
  status4xx: number;
  status5xx: number;
  /** Milliseconds, from the duration histogram's buckets; null before any request. */
  latency: { p50: number | null; p95: number | null; p99: number | null };
  /** Null when the gateway has no cache. `hitRatio`: HIT and STALE over every cache request, null before any. */
  cache: { requests: number; hits: number; hitRatio: number | null } | null;
}

/** `<path>api/state`, and each event of `<path>api/events`. */
export interface DashboardState {
  /** A digest of the running config: it changes when a reload changes the config. */
  version: string;
  /** When this process started with the config (ISO 8601). */
  loadedAt: string;
  /** Processes whose figures are summed. */
  workers: number;
  uptimeSeconds: number;
  /** When the figures were read (ISO 8601). */
  at: string;
  refreshMs: number;
  routes: DashboardRoute[];
}

/** A route as the config gives it. */
export interface DashboardRouteConfig {
  prefix: string;
  /** The route's first target, as a URL's `href`: what a route with one plain target shows. */
  target: string;
}

const N = 'nest_gateway_';
const REQUESTS = `${N}requests_total`;
const BUCKETS = `${N}request_duration_seconds_bucket`;
const UPSTREAM_ERRORS = `${N}upstream_errors_total`;
const CACHE = `${N}cache_requests_total`;
const TARGET_UP = `${N}upstream_target_up`;
const TARGET_EJECTED = `${N}upstream_target_ejected`;
const READ = new Set([REQUESTS, BUCKETS, UPSTREAM_ERRORS, CACHE, TARGET_UP, TARGET_EJECTED]);

/** What the last read saw of a route, to tell its rate and how its last requests went. */
interface Seen {
  requests: number;
  failed: number;
  rate: number;
  plainTargetDown: boolean;
}

/**
 * Reads the page's figures from the gateway's metrics (the text `/metrics` serves, summed over
 * workers by the primary when there are workers): one source for both, and no second protocol
 * between processes.
 */
export class DashboardStateReader {
  private last = { at: 0, routes: new Map<string, Seen>() };

  constructor(
    private readonly routes: DashboardRouteConfig[],
    private readonly readMetrics: () => Promise<ClusterMetrics>,
    private readonly about: { version: string; loadedAt: string; refreshMs: number; cached: boolean },
  ) {}

  async read(now = Date.now()): Promise<DashboardState> {
    const { text, workers, uptimeSeconds } = await this.readMetrics();
    const samples = parseSamples(text, READ);
    const of = (name: string, prefix: string) => (samples.get(name) ?? []).filter((sample) => sample.labels.route === prefix);
    const elapsed = (now - this.last.at) / 1000;
    // Reads closer together than half a refresh (the page's first state beside its events) keep the last rate.
    const measured = this.last.at > 0 && elapsed * 1000 >= this.about.refreshMs / 2;
    const seen = new Map<string, Seen>();
    const routes = this.routes.map(({ prefix, target }): DashboardRoute => {
      const requests = of(REQUESTS, prefix);
      const total = sum(requests);
      const failed = sum(of(UPSTREAM_ERRORS, prefix));
      const before = this.last.routes.get(prefix);
      const counted = total - (before?.requests ?? 0);
      // Counts fall when a reload replaces a worker: no rate below 0.
      const rate = !before ? 0 : measured ? Math.max(0, counted) / elapsed : before.rate;
      // A plain target is not probed: it is down while every request that reached for it failed, as it was last seen when none came.
      const newlyFailed = failed - (before?.failed ?? 0);
      const plainTargetDown = counted > 0 ? newlyFailed >= counted : (before?.plainTargetDown ?? false);
      seen.set(prefix, measured || !before ? { requests: total, failed, rate, plainTargetDown } : { ...before, plainTargetDown });
      const cache = of(CACHE, prefix);
      const hits = sum(cache.filter(({ labels }) => labels.result === 'HIT' || labels.result === 'STALE'));
      const cacheRequests = sum(cache);
      const buckets = of(BUCKETS, prefix);
      return {
        prefix,
        targets: poolTargets(of(TARGET_UP, prefix), of(TARGET_EJECTED, prefix), workers) ?? [{ url: target, state: plainTargetDown ? 'down' : 'up' }],
        requests: total,
        rate: Math.round(rate * 100) / 100,
        status4xx: sum(requests.filter(({ labels }) => labels.status?.startsWith('4'))),
        status5xx: sum(requests.filter(({ labels }) => labels.status?.startsWith('5'))),
        latency: { p50: quantile(0.5, buckets), p95: quantile(0.95, buckets), p99: quantile(0.99, buckets) },
        cache: this.about.cached ? { requests: cacheRequests, hits, hitRatio: cacheRequests ? hits / cacheRequests : null } : null,
      };
    });
    if (measured || this.last.at === 0) this.last = { at: now, routes: seen };
    else this.last.routes = seen;
    return { version: this.about.version, loadedAt: this.about.loadedAt, workers, uptimeSeconds: Math.round(uptimeSeconds), at: new Date(now).toISOString(), refreshMs: this.about.refreshMs, routes };
  }
}

const sum = (samples: Sample[]) => samples.reduce((total, { value }) => total + value, 0);

/**
 * A pool's targets, from the gauges summed over `workers`: down when any worker's checks fail
 * it (it is neither up nor ejected there), else ejected when any worker's outlier detection
 * holds it out. Undefined for a route with one plain target, which has no pool.
 */
function poolTargets(up: Sample[], ejected: Sample[], workers: number): DashboardRoute['targets'] | undefined {
  if (!up.length) return undefined;
  return up.map(({ labels, value }) => {
    const out = ejected.find((sample) => sample.labels.target === labels.target)?.value ?? 0;
    const state: TargetState = value + out < workers ? 'down' : out > 0 ? 'ejected' : 'up';
    return { url: labels.target, state };
  });
}

/**
 * The `q` quantile of a histogram's cumulative buckets, in milliseconds, interpolated within its
 * bucket as Prometheus' `histogram_quantile` does; in the `+Inf` bucket, the highest finite bound.
 */
export function quantile(q: number, buckets: Sample[]): number | null {
  const sorted = buckets
    .map(({ labels, value }) => ({ bound: labels.le === '+Inf' ? Infinity : Number(labels.le), count: value }))
    .sort((a, b) => a.bound - b.bound);
  const total = sorted.at(-1)?.count ?? 0;
  if (!total) return null;
  const rank = Math.min(q, 1) * total;
  // The last bucket counts every observation: some bucket always reaches the rank.
  const at = sorted.findIndex(({ count }) => count >= rank);
  const lower = at > 0 ? sorted[at - 1].bound : 0;
  const below = at > 0 ? sorted[at - 1].count : 0;
  const { bound, count } = sorted[at];
  if (bound === Infinity) return lower * 1000;
  const within = count - below;
  return (lower + (bound - lower) * (within ? (rank - below) / within : 1)) * 1000;
}
