import { Counter, collectDefaultMetrics, Gauge, type MetricValueWithName, Registry } from 'prom-client';
import type { StoreCounts, StoreStats } from '../cache/store-stats.js';
import type { TraceCounts } from '../tracing/gateway-tracer.js';
import { DURATION_BUCKETS, RouteCounters } from './route-counters.js';
import { WebSocketCounters } from './websocket-counters.js';

const PREFIX = 'nest_gateway_';
const DURATION = `${PREFIX}request_duration_seconds`;

/**
 * The gateway's Prometheus metrics, in a registry of its own (a host application's global
 * registry is left alone). Exchanges count into plain {@link RouteCounters}; the metrics read
 * them when scraped, as do the cache store's figures.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly routes: RouteCounters[] = [];
  /** The process's WebSocket upgrades and connections. */
  readonly webSockets = new WebSocketCounters();

  /**
   * @param store the response cache's store, when the cache is on.
   * @param counting false when nobody reads the metrics (`metrics: false`): no process metrics
   *   are sampled and nothing is registered.
   * @param traces what became of the tracer's spans, when tracing is on.
   */
  constructor(
    private readonly store?: StoreStats,
    private readonly counting = true,
    private readonly traces?: TraceCounts,
  ) {
    if (!counting) return;
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    this.registerTraceMetrics();
    this.registerExchangeMetrics();
    this.registerStoreMetrics();
    this.registerWebSocketMetrics();
  }

  /** The counters of one route, created at start-up. */
  forRoute(route: string): RouteCounters {
    const counters = new RouteCounters(route);
    if (this.counting) this.routes.push(counters);
    return counters;
  }

  private registerExchangeMetrics(): void {
    const routes = this.routes;
    const registers = [this.registry];
    new Counter({
      name: `${PREFIX}requests_total`,
      help: 'Requests to gateway routes, by route prefix, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
      collect() {
        this.reset();
        for (const { route, requests } of routes) {
          for (const [method, byStatus] of requests) for (const [status, count] of byStatus) this.inc({ route, method, status }, count);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}requests_in_flight`,
      help: 'Requests to gateway routes being served',
      registers,
      collect() {
        this.set(routes.reduce((sum, counters) => sum + counters.inFlight, 0));
      },
    });
    /** A counter per route, by `label` when `read` gives counts by value; `undefined` leaves a route out. */
    const countedByRoute = (name: string, help: string, read: (counters: RouteCounters) => Record<string, number> | number | undefined, label?: string) =>
      new Counter({
        name: `${PREFIX}${name}`,
        help,
        labelNames: label ? ['route', label] : ['route'],
        registers,
        collect() {
          this.reset();
          for (const counters of routes) {
            const counted = read(counters);
            if (typeof counted === 'number') this.inc({ route: counters.route }, counted);
            else if (counted) for (const [value, count] of Object.entries(counted)) if (count) this.inc({ route: counters.route, [label!]: value }, count);
          }
        },
      });
    countedByRoute('upstream_errors_total', 'Failed exchanges with services, by route prefix and kind (refused, timeout, reset, other)', (c) => c.upstreamErrors, 'kind');
    // Routes with a pool only: the others have no retries or ejections to count.
    countedByRoute('upstream_retries_total', 'Attempts beyond the first, by route prefix', (c) => (c.targets ? c.retries : undefined));
    countedByRoute('upstream_ejections_total', 'Targets taken out after repeated failures, by route prefix', (c) => (c.targets ? c.ejections : undefined));
    new Gauge({
      name: `${PREFIX}upstream_target_up`,
      help: 'Whether a target of a route with several targets (or checks, or retries) takes requests now',
      labelNames: ['route', 'target'],
      registers,
      collect() {
        this.reset();
        for (const counters of routes) for (const { target, up } of counters.targets?.() ?? []) this.set({ route: counters.route, target }, up ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}upstream_target_ejected`,
      help: 'Whether outlier detection holds a target of a route with several targets out now',
      labelNames: ['route', 'target'],
      registers,
      collect() {
        this.reset();
        for (const counters of routes) for (const { target, ejected } of counters.targets?.() ?? []) this.set({ route: counters.route, target }, ejected ? 1 : 0);
      },
    });
    countedByRoute('upstream_health_checks_total', 'Active health checks of targets, by route prefix and result (pass, fail)', (c) => c.healthChecks, 'result');
    countedByRoute('requests_refused_total', 'Requests refused by the access checks, by route prefix and reason (ip, rate_limit, auth)', (c) => c.refusals, 'reason');
    new Gauge({
      name: `${PREFIX}rate_limit_store_up`,
      help: 'Whether the Redis-counted rate limits of a route reach Redis now (0: they count as onRedisDown says)',
      labelNames: ['route'],
      registers,
      aggregator: 'min',
      collect() {
        this.reset();
        for (const counters of routes) if (counters.rateLimitStoreUp) this.set({ route: counters.route }, counters.rateLimitStoreUp() ? 1 : 0);
      },
    });
    countedByRoute('cache_requests_total', 'Requests to cached routes, by route prefix and result (HIT, STALE, MISS, BYPASS)', (c) => c.cacheResults, 'result');
    // prom-client's Histogram takes observations one by one; this one reports the buckets the
    // routes counted, in the same shape (and summed across workers the same way).
    const duration = {
      name: DURATION,
      // prom-client's typings give `type` as an enum; what it formats and aggregates is the string.
      get: async () => ({
        name: DURATION,
        help: 'Time from the request to the end of its response, by route prefix',
        type: 'histogram',
        aggregator: 'sum',
        values: routes.flatMap(durationSamples),
      }),
    };
    this.registry.registerMetric(duration as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  private registerWebSocketMetrics(): void {
    const counters = this.webSockets;
    const registers = [this.registry];
    new Gauge({
      name: `${PREFIX}websocket_connections`,
      help: 'Upgraded (WebSocket) connections open now',
      registers,
      collect() {
        this.set(counters.open);
      },
    });
    new Counter({
      name: `${PREFIX}websocket_upgrades_total`,
      help: 'WebSocket upgrade requests to gateway routes, by result (upgraded, refused, declined, failed, over_capacity)',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        for (const [result, count] of Object.entries(counters.upgrades)) if (count) this.inc({ result }, count);
      },
    });
    new Counter({
      name: `${PREFIX}websocket_bytes_total`,
      help: 'Bytes carried by closed WebSocket connections, by direction (from_client, to_client)',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        this.inc({ direction: 'from_client' }, counters.bytesFromClients);
        this.inc({ direction: 'to_client' }, counters.bytesToClients);
      },
    });
  }

  private registerTraceMetrics(): void {
    const { traces } = this;
    if (!traces) return;
    new Counter({
      name: `${PREFIX}trace_spans_total`,
      help: 'Finished spans, by what became of them: exported, dropped (the export queue was full), failed (the collector refused or did not answer)',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const result of ['exported', 'dropped', 'failed'] as const) this.inc({ result }, traces[result]);
      },
    });
  }

  private registerStoreMetrics(): void {
    const { store } = this;
    if (!store) return;
    new Gauge({
      name: `${PREFIX}cache_store_up`,
      help: 'Whether requests use the cache store (0 while it is unreachable or skipped for not answering in time: the cache is bypassed)',
      registers: [this.registry],
      // Across workers, the worst: one worker bypassing its store is worth an alert.
      aggregator: 'min',
      collect() {
        this.set(store.usesStore() ? 1 : 0);
      },
    });
    const { counts } = store;
    if (!counts) return;
    const stat = (name: string, help: string, read: (stats: StoreCounts) => number) =>
      new Gauge({
        name: `${PREFIX}cache_${name}`,
        help,
        registers: [this.registry],
        collect() {
          this.set(read(counts()));
        },
      });
    stat('entries', 'Entries in the memory cache', (stats) => stats.entries);
    stat('bytes', 'Bytes held by the memory cache, bodies and bookkeeping', (stats) => stats.bytes);
    stat('evictions', 'Entries evicted from the memory cache to make room, since start', (stats) => stats.evictions);
  }
}

function durationSamples(counters: RouteCounters): MetricValueWithName<string>[] {
  const route = counters.route;
  const samples: MetricValueWithName<string>[] = [];
  let cumulative = 0;
  DURATION_BUCKETS.forEach((bound, index) => {
    cumulative += counters.durationBuckets[index];
    samples.push({ metricName: `${DURATION}_bucket`, labels: { le: bound, route }, value: cumulative });
  });
  cumulative += counters.durationBuckets[DURATION_BUCKETS.length];
  samples.push({ metricName: `${DURATION}_bucket`, labels: { le: '+Inf', route }, value: cumulative });
  samples.push({ metricName: `${DURATION}_sum`, labels: { route }, value: counters.durationSum });
  samples.push({ metricName: `${DURATION}_count`, labels: { route }, value: counters.durationCount });
  return samples;
}
