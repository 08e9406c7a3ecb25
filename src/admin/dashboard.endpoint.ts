import cluster from 'node:cluster';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedDashboardOptions, ResolvedGatewayOptions } from '../config/resolve-options.js';
import { GATEWAY_METRICS, GATEWAY_VALIDATED_OPTIONS, HTTP_METHODS } from '../gateway.constants.js';
import { DrainState } from '../health/index.js';
import { processMetrics, workerClusterState } from '../metrics/cluster-metrics.js';
import type { GatewayMetrics } from '../metrics/index.js';
import { isAllowed, toBlockList } from '../metrics/peer-allow-list.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import { DashboardStateReader } from './dashboard-state.js';

/** Event streams one process serves at once; more get 503 (each holds a connection, and all share one read per refresh). */
export const DASHBOARD_MAX_EVENT_CLIENTS = 16;
/** An event stream whose client has not taken this much is closed: it would only grow in memory. */
const MAX_UNSENT_BYTES = 1024 * 1024;
export const DASHBOARD_REALM = 'Basic realm="nest-gateway dashboard"';

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const digest = (value: string) => createHash('sha256').update(value).digest();
const answer = (statusCode: number, error: string, message: string) => ({ statusCode, error, message });

/**
 * The operator page at `dashboard.path`, the gateway's own (never forwarded): the page, its
 * state as JSON (`api/state`) and as server-sent events (`api/events`, one per refresh while a
 * client listens). Every path under it answers only the peers in `dashboard.allow` (404 to
 * others, as if absent) and, with a token, only requests carrying it.
 */
@Injectable()
export class DashboardEndpoint implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Dashboard');
  private readonly loadedAt = new Date().toISOString();
  private readonly streams = new Set<ServerResponse>();
  private ticker?: NodeJS.Timeout;
  private reading = false;
  private eventId = 0;
  private reader?: DashboardStateReader;
  private refreshMs = 0;

  constructor(
    @Inject(GATEWAY_VALIDATED_OPTIONS) private readonly options: ResolvedGatewayOptions,
    @Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics,
    private readonly drain: DrainState,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const { dashboard } = this.options;
    if (!dashboard) return;
    this.refreshMs = dashboard.refresh;
    const registry = this.metrics.registry;
    const read = cluster.isWorker ? workerClusterState(registry) : processMetrics(registry);
    const routes = [...new Map(this.options.routes.map((route) => [route.prefix, { prefix: route.prefix, target: new URL(route.targets[0].url).href }])).values()];
    this.reader = new DashboardStateReader(routes, read, {
      version: configVersion(this.options),
      loadedAt: this.loadedAt,
      refreshMs: dashboard.refresh,
      cached: this.options.cache !== undefined,
    });
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const guard = this.guard(dashboard);
    const base = dashboard.path.slice(0, -1);
    const common = { method: [...HTTP_METHODS], exposeHeadRoute: false, onRequest: guard };
    fastify.route({ ...common, url: base, handler: (_request, reply) => reply.code(308).header('location', dashboard.path).send() });
    // The whole tree: fastify still matches the gateway's other endpoints there (static paths) first.
    fastify.route({ ...common, url: `${dashboard.path}*`, handler: (request, reply) => this.serve(request, reply) });
  }

  onModuleDestroy(): void {
    this.closeStreams();
  }

  private guard(dashboard: ResolvedDashboardOptions) {
    const allowed = toBlockList(dashboard.allow);
    const expected = dashboard.token === undefined ? undefined : digest(dashboard.token);
    return async (request: FastifyRequest, reply: FastifyReply) => {
      // Refused as if absent: the page tells who runs what, where.
      if (!isAllowed(allowed, request.raw.socket.remoteAddress)) return reply.code(404).send(answer(404, 'Not Found', 'Not Found'));
      if (expected && !carriesToken(request.headers.authorization, expected)) {
        return reply.code(401).header('www-authenticate', DASHBOARD_REALM).send(answer(401, 'Unauthorized', 'the dashboard needs its token'));
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return reply.code(405).header('allow', 'GET, HEAD').send(answer(405, 'Method Not Allowed', 'the dashboard is read-only'));
      }
    };
  }

  private async serve(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const rest = (request.params as { '*': string })['*'];
    if (rest === '') return reply.headers({ ...PAGE_HEADERS, 'content-security-policy': DASHBOARD_PAGE.contentSecurityPolicy }).type('text/html; charset=utf-8').send(DASHBOARD_PAGE.html);
    if (rest === 'api/state') return reply.headers(PAGE_HEADERS).send(await this.reader!.read());
    if (rest === 'api/events') return this.openStream(request, reply);
    return reply.code(404).send(answer(404, 'Not Found', 'Not Found'));
  }

  private openStream(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    if (this.streams.size >= DASHBOARD_MAX_EVENT_CLIENTS || this.drain.draining) {
      return reply.code(503).header('retry-after', '5').send(answer(503, 'Service Unavailable', `at most ${DASHBOARD_MAX_EVENT_CLIENTS} event streams at once`));
    }
    reply.hijack();
    const res = reply.raw;
    // The connection ends with the stream: one ended at shutdown must not linger as an idle keep-alive the server waits for.
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no', connection: 'close' });
    if (request.method === 'HEAD') {
      res.end();
      return reply;
    }
    // A client that lost the stream comes back after about a refresh.
    res.write(`retry: ${this.refreshMs}\n\n`);
    this.streams.add(res);
    const gone = () => {
      this.streams.delete(res);
      if (this.streams.size === 0) this.stopTicking();
    };
    res.on('close', gone);
    res.on('error', gone);
    if (!this.ticker) this.ticker = setInterval(() => void this.tick(), this.refreshMs);
    void this.send([res]);
    return reply;
  }

  private async tick(): Promise<void> {
    // A stream would hold its connection through the drain: its client reconnects elsewhere.
    if (this.drain.draining) return this.closeStreams();
    // A read slower than the refresh (the primary asking every worker) is not stacked.
    if (this.reading) return;
    await this.send([...this.streams]);
  }

  private async send(to: ServerResponse[]): Promise<void> {
    this.reading = true;
    try {
      const event = `id: ${++this.eventId}\ndata: ${JSON.stringify(await this.reader!.read())}\n\n`;
      for (const res of to) {
        if (res.writableLength > MAX_UNSENT_BYTES) res.destroy();
        else if (!res.writableEnded) res.write(event);
      }
    } catch (error) {
      this.logger.warn(`dashboard state not read: ${(error as Error).message}`);
    } finally {
      this.reading = false;
    }
  }

  private stopTicking(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private closeStreams(): void {
    this.stopTicking();
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}

/**
 * The token as `Authorization: Bearer <token>`, or as the password of Basic auth (what a browser
 * asks for), compared as digests in constant time. Never from the query string: a URL ends up in
 * logs and browser history.
 */
function carriesToken(authorization: string | undefined, expected: Buffer): boolean {
  if (authorization === undefined) return false;
  const bearer = /^Bearer +(\S+) *$/i.exec(authorization);
  if (bearer) return timingSafeEqual(digest(bearer[1]), expected);
  const basic = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization);
  if (!basic) return false;
  const credentials = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon >= 0 && timingSafeEqual(digest(credentials.slice(colon + 1)), expected);
}

/** A digest of the running config (functions and the logger left out): it changes when a reload changes the config. */
function configVersion(options: ResolvedGatewayOptions): string {
  const text = JSON.stringify(options, (key, value: unknown) => (key === 'logger' || typeof value === 'function' ? undefined : value));
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}
