import { type OutgoingHttpHeaders, STATUS_CODES } from 'node:http';
import type { GatedExchange, RateLimiter, RefusalReason, RouteAccess } from '../access/index.js';
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import {
  answersFailure,
  type CacheAddress,
  type CacheEntry,
  type CacheFill,
  hitHeaders,
  lookUpResponse,
  type ResponseCacheService,
  staleAfterFailureMember,
  writeHit,
} from '../cache/index.js';
import { composeMiddlewares, type MiddlewareChain, OnResponseReceiver, runOnRequest, runOnResponseWith } from '../middleware/index.js';
import type { RouteCounters } from '../metrics/index.js';
import type { GatewayTracer } from '../tracing/index.js';
import { answerFailure, assignHeaderList, FailedAnswerError, type UpstreamErrorKind } from '../proxy/index.js';
import type { RouteUpstream, UpstreamService } from '../upstream/index.js';
import { BackgroundRefresh } from './background-refresh.js';
import type { CompiledRoute } from './compile-routes.js';
import { Exchange, type ExchangeStages } from './exchange.js';
import { refuseRequestHead, refuseRequestTarget } from './request-target.js';
import type { UpgradeStage } from './upgrade-pipeline.js';

/** Node sets `upgrade` on every request (true on those its `upgrade` event took); @types/node omits it. */
type UpgradableRequest = FastifyRequest['raw'] & { upgrade?: boolean };

/** The part of a route's pipeline that the host application's global guards and interceptors wrap. */
export type GuardedStages = (request: FastifyRequest, reply: FastifyReply, exchange: RouteExchange) => void | Promise<void>;

/** What every route's pipeline shares, built once at start-up (`createPipelineContext`). */
export interface PipelineContext {
  upstreams: UpstreamService;
  /** Present when the cache is on. */
  cache?: ResponseCacheService;
  /** The metrics of a route, counted by its exchanges. */
  countersFor(route: CompiledRoute): RouteCounters;
  /** The access line writer of a route; absent when the access log is off. */
  accessLineFor(route: CompiledRoute): ExchangeStages['accessLine'];
  maxUrlLength: number;
  /** Node's `maxHeadersCount`: a request whose raw header list reaches it may have lost some. */
  maxHeadersCount: number;
  /** Wraps stages in the host's global guards and interceptors; absent when it has none. */
  hostPipeline?: (stages: GuardedStages) => GuardedStages;
  /** The last stage of a route's WebSocket upgrades; absent when the route takes none. */
  upgradeStageFor?: (route: CompiledRoute, upstream: RouteUpstream) => UpgradeStage | undefined;
  /** Told of every failed exchange with a service. */
  upstreamFailed(route: CompiledRoute, kind: UpstreamErrorKind, exchange: Exchange): void;
  /** Present when tracing is on. */
  tracer?: GatewayTracer;
  /** A route's access checks and its rate limits; none when it has no rules. */
  accessFor(route: CompiledRoute): { access: RouteAccess; limits: RateLimiter[] } | undefined;
}

/**
 * The request path of one route, composed once at start-up; a stage is present only on routes
 * that use it. In order:
 *
 *   1. start the exchange: request id, metrics, access line (observed at its end, however it ends)
 *   2. refuse a request target not in normal form (400/414), a bad or repeated Host (400), or
 *      too many headers (431)
 *   3. access, first part (`access/route-access.ts`): the address rules (403), then the rate
 *      limits that need no identity (429)
 *   4. the middlewares, global then the route's
 *   5. access, second part: the JWT or API key (401), then the rate limits by a claim (429)
 *   6. the host application's global guards and interceptors, when it has any
 *   7. the route's `onRequest` hook
 *   8. the cache lookup: a hit is answered here (through `onResponse` when the route has it)
 *   9. forward to the target (one of the route's targets, by its `balance`, sent again by its
 *      retry rules: `upstream/upstream-pool.ts`); the response streams back through the cache
 *      fill (a tap) and to the client, or to the route's `onResponse` hook. A WebSocket upgrade
 *      is proxied here instead, never cached (`upgrade-pipeline.ts`)
 *
 * The body is never read by fastify (the routes are mounted with a pass-through parser); the
 * forwarder streams it.
 */
export class RoutePipeline implements ExchangeStages {
  private readonly upstream: RouteUpstream;
  private readonly middlewares?: MiddlewareChain;
  private readonly guarded: GuardedStages;
  private readonly cache?: ResponseCacheService;
  private readonly upgrade?: UpgradeStage;
  private readonly access?: RouteAccess;
  private readonly authenticates: boolean;
  readonly counters: RouteCounters;
  readonly accessLine: ExchangeStages['accessLine'];
  readonly tracer?: GatewayTracer;
  /** Hooks answer through fastify's reply; every other answer is written to Node's response. */
  private readonly hijack: boolean;

  constructor(
    readonly route: CompiledRoute,
    private readonly context: PipelineContext,
  ) {
    this.counters = context.countersFor(route);
    this.upstream = context.upstreams.for(route, this.counters);
    this.accessLine = context.accessLineFor(route);
    this.tracer = context.tracer;
    this.middlewares = composeMiddlewares(route.middlewares);
    this.cache = route.cached ? context.cache : undefined;
    this.upgrade = context.upgradeStageFor?.(route, this.upstream);
    this.hijack = !route.onRequest && !route.onResponse;
    this.guarded = context.hostPipeline ? context.hostPipeline(this.guardedStages) : this.guardedStages;
    const checks = context.accessFor(route);
    this.access = checks?.access;
    this.authenticates = checks?.access.authenticates ?? false;
    if (checks?.limits.some((limit) => limit.redis)) this.counters.rateLimitStoreUp = () => checks.limits.every((limit) => limit.storeUp());
  }

  /**
   * The fastify handler of every method on one of the route's paths: stages 1 to 4. The path is
   * known here, where fastify would build its route options anew at each read.
   */
  handlerAt(path: string): RouteHandlerMethod {
    return (request, reply) => this.handle(request, reply, path);
  }

  private handle(request: FastifyRequest, reply: FastifyReply, path: string): void {
    const exchange = new RouteExchange(this, request, reply, path);
    if (this.hijack) reply.hijack();
    const refused = this.refusal(request);
    if (refused) return exchange.answer(refused.statusCode, { statusCode: refused.statusCode, error: STATUS_CODES[refused.statusCode], message: refused.message }, true);
    if (this.access) this.access.admit(exchange, this.admitted);
    else this.admitted(exchange);
  };

  /** Stage 4, then on. */
  private readonly admitted = (exchange: RouteExchange): void => {
    if (this.middlewares) this.middlewares(exchange.req, exchange.res, () => this.afterMiddlewares(exchange));
    else this.afterMiddlewares(exchange);
  };

  /** Stage 5, then on. */
  private afterMiddlewares(exchange: RouteExchange): void {
    if (this.authenticates) this.access!.authenticate(exchange, this.authenticated);
    else this.runGuarded(exchange.request, exchange.reply, exchange);
  }

  private readonly authenticated = (exchange: RouteExchange): void => this.runGuarded(exchange.request, exchange.reply, exchange);

  private refusal(request: FastifyRequest): { statusCode: 400 | 414 | 431; message: string } | undefined {
    // Node keeps `maxHeadersCount` entries of the raw list (names and values: half as many
    // lines) and drops the rest, while its parser frames the body on all of them: a
    // `Transfer-Encoding` past the limit would be invisible here.
    if (request.raw.rawHeaders.length >= this.context.maxHeadersCount) {
      return { statusCode: 431, message: `${this.context.maxHeadersCount / 2} header lines or more` };
    }
    return refuseRequestTarget(request.url, this.context.maxUrlLength) ?? refuseRequestHead(request.raw);
  }

  private runGuarded(request: FastifyRequest, reply: FastifyReply, exchange: RouteExchange): void {
    const ran = this.guarded(request, reply, exchange);
    if (ran) ran.catch((error: unknown) => answerHostError(exchange, error));
  }

  /** Stages 7 to 9. */
  private readonly guardedStages: GuardedStages = (request, reply, exchange) => {
    const onRequest = this.route.onRequest;
    if (!onRequest) return this.lookUp(exchange);
    return runOnRequest(onRequest, request, reply).then((proceed) => {
      if (proceed) this.lookUp(exchange);
    });
  };

  /** Stage 8: the cache answers the exchange's `hit` or `miss` (below); without a cache, stage 9. */
  private lookUp(exchange: RouteExchange): void {
    // A WebSocket upgrade is proxied here, past every stage before; never cached.
    if ((exchange.request.raw as UpgradableRequest).upgrade && this.upgrade?.take(exchange)) return;
    // The exchange is both where the request is addressed and the outcome: no object per lookup.
    if (this.cache) lookUpResponse(this.cache, exchange.request.raw, exchange, exchange);
    else this.forward(exchange);
  }

  /** Stage 8, a hit: the stored response is the answer (`status` is its `Cache-Status` member). */
  answerHit(exchange: Exchange, entry: CacheEntry, result: 'HIT' | 'STALE', status: string): void {
    const { request, reply } = exchange;
    if (this.route.onResponse) {
      const headers = { ...entry.headers, ...hitHeaders(entry, result, status) };
      assignHeaderList(headers, exchange.addedHeaders);
      return runOnResponseWith(this.route.onResponse, request, reply, entry.status, headers, entry.body);
    }
    writeHit(reply.raw, request.raw, entry, exchange.id, status, result, exchange.addedHeaders);
  }

  /** Stage 9 for a stale entry already answered: its refresh is forwarded with no client waiting. */
  refresh(exchange: Exchange, fill: CacheFill): void {
    this.upstream.forward(new BackgroundRefresh(exchange, fill));
  }

  /** Stage 9: forward, the response streaming back through the cache's tap when there is one. */
  forward(exchange: Exchange): void {
    const onResponse = this.route.onResponse;
    if (onResponse) exchange.receiver = new OnResponseReceiver(onResponse, exchange.request, exchange.reply);
    exchange.forwarding = this.upstream.forward(exchange);
    // The client left while the cache or a hook was still deciding.
    if (exchange.closed) exchange.forwarding?.abandon();
  }

  /** Told by the forwarder, or the WebSocket proxy, of a failed exchange with a service. */
  upstreamFailed(exchange: Exchange, kind: UpstreamErrorKind): void {
    this.counters.upstreamFailed(kind);
    this.context.upstreamFailed(this.route, kind, exchange);
  }
}

/**
 * An exchange on a route: what the cache keys it on, and the outcome the cache lookup answers,
 * branching to the route's answer of a hit or to forwarding on a miss. One object per request,
 * no callback allocated.
 */
export class RouteExchange extends Exchange implements CacheAddress, GatedExchange {
  claims?: Record<string, unknown>;
  /** A stale entry that answers if the service fails (within its `stale-if-error` window). */
  private fallback?: CacheEntry;

  constructor(
    private readonly pipeline: RoutePipeline,
    request: FastifyRequest,
    reply: FastifyReply,
    path: string,
  ) {
    super(pipeline, request, reply, path);
  }

  get scheme(): string {
    return this.clientProtocol;
  }

  get host(): string {
    return this.clientHost;
  }

  get route(): string {
    return this.pipeline.route.prefix;
  }

  refuse(statusCode: number, message: string, reason: RefusalReason, headers?: OutgoingHttpHeaders): void {
    this.pipeline.counters.refused(reason);
    // The unread rest of a body would otherwise be read and thrown away before the next request.
    this.answer(statusCode, { statusCode, error: STATUS_CODES[statusCode], message }, !this.req.complete, headers);
  }

  hit(entry: CacheEntry, status: string): void {
    this.cache = 'HIT';
    this.pipeline.answerHit(this, entry, 'HIT', status);
  }

  stale(entry: CacheEntry, status: string, refresh: CacheFill | undefined): void {
    this.cache = 'STALE';
    this.pipeline.answerHit(this, entry, 'STALE', status);
    if (refresh) this.pipeline.refresh(this, refresh);
  }

  keepFallback(entry: CacheEntry): void {
    this.fallback = entry;
  }

  miss(fill: CacheFill): void {
    this.cache = fill.result;
    this.tap = fill;
    this.pipeline.forward(this);
  }

  /** The fill this miss waited for failed at the service: the same answer, without asking again. */
  failed(error: Error): void {
    this.cache = 'MISS';
    answerFailure(this, error);
  }

  /** The service failed this miss: a stale entry still within its `stale-if-error` window answers instead. */
  fallBack(status: number | undefined): boolean {
    const entry = this.fallback;
    if (!entry || status === undefined || !answersFailure(entry, status, Date.now())) return false;
    // Requests waiting for this miss's answer fall back the same way.
    this.tap?.abort(new FailedAnswerError(status));
    this.cache = 'STALE';
    this.pipeline.answerHit(this, entry, 'STALE', staleAfterFailureMember(status));
    return true;
  }

  /** A stage after an asynchronous cache lookup threw: answer 500, or cut a response begun. */
  fail(): void {
    if (this.reply.raw.headersSent) this.reply.raw.destroy();
    else this.answer(500, { statusCode: 500, message: 'Internal server error' }, true);
  }
}

interface HostError {
  getStatus?: () => number;
  getResponse?: () => string | object;
}

/** A guard that refused (a Nest `HttpException`) answers with its own response; anything else is a 500. */
function answerHostError(exchange: Exchange, error: unknown): void {
  const { getStatus, getResponse } = (error ?? {}) as HostError;
  if (typeof getStatus === 'function' && typeof getResponse === 'function') {
    const status = getStatus.call(error);
    const response = getResponse.call(error);
    return exchange.answer(status, typeof response === 'object' ? response : { statusCode: status, message: response });
  }
  exchange.answer(500, { statusCode: 500, message: 'Internal server error' });
}

