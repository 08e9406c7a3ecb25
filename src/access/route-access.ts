import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { AddressRules } from './address-rules.js';
import type { ApiKeyAuthenticator } from './api-key-authenticator.js';
import type { RateDecision } from './gcra.js';
import type { AuthOutcome, AuthRefusal, JwtAuthenticator } from './jwt-authenticator.js';
import type { RateLimiter } from './rate-limiter.js';
import { RateLimitStage, type StageOutcome } from './rate-limit-stage.js';

/** Why a request was refused, as the metrics count it. */
export type RefusalReason = 'ip' | 'rate_limit' | 'auth';

/** A request on its way through a route's access checks; the route's exchange is one. */
export interface GatedExchange {
  readonly req: IncomingMessage;
  /** The client's address, as `server.trustProxy` lets it be told. */
  readonly clientIp: string;
  /** The response has ended or was cut. */
  readonly closed: boolean;
  /** Verified claims of the request's token, once authenticated. */
  claims?: Record<string, unknown>;
  /** The limits' fields, added to whatever answers the request. */
  addedHeaders?: string[];
  /** What each of the route's limits decided so far. */
  rateDecisions?: [RateLimiter, RateDecision][];
  /** Answers the refusal (a JSON body) and counts it. */
  refuse(statusCode: number, message: string, reason: RefusalReason, headers?: OutgoingHttpHeaders): void;
}

/** How a request goes on once a step has passed it; one function per route, not per request. */
export type Next<E extends GatedExchange> = (exchange: E) => void;

const UNAVAILABLE_RETRY_AFTER = '1';
const JWKS_RETRY_AFTER = '5';
const BEARER_CHALLENGE = 'Bearer realm="gateway"';
// Characters a header value can carry as they are; a claim with others is not forwarded.
const HEADER_SAFE = /^[\t\x20-\x7e]*$/;

const seconds = (microseconds: number) => Math.max(1, Math.ceil(microseconds / 1_000_000));

/** A claim's value as a request header's, or undefined when it has none that fits one. */
function claimHeaderValue(value: unknown): string | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) text = value.join(', ');
  else if (value !== null && typeof value === 'object') text = JSON.stringify(value);
  else return undefined;
  return HEADER_SAFE.test(text) ? text : undefined;
}

/**
 * A route's access checks, in the order the route pipeline runs them: `admit` (address rules,
 * then the limits that count without identity) before the middlewares, `authenticate` (the JWT
 * or API key, then the limits that count by a claim) after them. Each step answers a refusal
 * itself, or hands the exchange on; a step is synchronous unless it must wait for Redis or the
 * issuer's keys.
 */
export class RouteAccess {
  private readonly earlyLimits?: RateLimitStage;
  private readonly lateLimits?: RateLimitStage;
  private readonly policy?: string;
  private readonly claimHeaders: string[];

  constructor(
    private readonly addresses: AddressRules | undefined,
    limits: RateLimiter[],
    private readonly jwt: JwtAuthenticator | undefined,
    private readonly forwardClaims: [string, string][],
    private readonly apiKey: ApiKeyAuthenticator | undefined,
    warn: (message: string) => void,
  ) {
    const stage = (stageLimits: RateLimiter[]) => (stageLimits.length ? new RateLimitStage(stageLimits, warn) : undefined);
    this.earlyLimits = stage(limits.filter((limit) => !limit.afterAuth));
    this.lateLimits = stage(limits.filter((limit) => limit.afterAuth));
    this.policy = limits.length ? limits.map((limit) => limit.policy).join(', ') : undefined;
    this.claimHeaders = forwardClaims.map(([, header]) => header);
  }

  /** Whether the route authenticates its requests (the `authenticate` step). */
  get authenticates(): boolean {
    return this.jwt !== undefined || this.apiKey !== undefined || this.lateLimits !== undefined;
  }

  /** Address rules, then the limits that need no identity. */
  admit<E extends GatedExchange>(exchange: E, next: Next<E>): void {
    // What the gateway forwards as claims is never the client's to say, nor to take away: a
    // header its `Connection` names would not be forwarded (hop-by-hop).
    if (this.claimHeaders.length) {
      const headers = exchange.req.headers;
      for (const header of this.claimHeaders) delete headers[header];
      if (headers.connection) headers.connection = headers.connection.split(',').filter((token) => !this.claimHeaders.includes(token.trim().toLowerCase())).join(',');
    }
    if (this.addresses?.refuses(exchange.clientIp)) return exchange.refuse(403, 'Forbidden', 'ip');
    this.limit(exchange, this.earlyLimits, next);
  }

  /** The token or key, then the limits that count by a claim. */
  authenticate<E extends GatedExchange>(exchange: E, next: Next<E>): void {
    if (this.apiKey) {
      if (!this.apiKey.admits(exchange.req)) {
        return exchange.refuse(401, 'A valid API key is required', 'auth', { 'www-authenticate': `ApiKey realm="gateway", header="${this.apiKey.header}"` });
      }
      // The key authenticates the client to the gateway; the service has no use for it.
      delete exchange.req.headers[this.apiKey.header];
      return this.limit(exchange, this.lateLimits, next);
    }
    if (!this.jwt) return this.limit(exchange, this.lateLimits, next);
    const outcome = this.jwt.authenticate(exchange.req);
    if (!(outcome instanceof Promise)) return this.authenticated(exchange, outcome, next);
    // Neither this nor what follows it throws: the middlewares, the host's guards and the hooks
    // answer their own throws (connect-chain.ts, runGuarded, route-hooks.ts).
    void outcome.then((settled) => {
      if (!exchange.closed) this.authenticated(exchange, settled, next);
    });
  }

  private authenticated<E extends GatedExchange>(exchange: E, outcome: AuthOutcome, next: Next<E>): void {
    if ('refusal' in outcome) return refuseAuth(exchange, outcome.refusal);
    exchange.claims = outcome.claims;
    for (const [claim, header] of this.forwardClaims) {
      const value = claimHeaderValue(outcome.claims[claim]);
      if (value !== undefined) exchange.req.headers[header] = value;
    }
    this.limit(exchange, this.lateLimits, next);
  }

  /** Counts the request against a step's limits, then hands it on. */
  private limit<E extends GatedExchange>(exchange: E, stage: RateLimitStage | undefined, next: Next<E>): void {
    if (!stage) return next(exchange);
    const outcome = stage.take(exchange.req, exchange.clientIp, exchange.claims);
    if (!(outcome instanceof Promise)) {
      if (this.passes(exchange, outcome)) next(exchange);
      return;
    }
    void outcome.then((settled) => {
      if (!exchange.closed && this.passes(exchange, settled)) next(exchange);
    });
  }

  /** Whether a step's outcome lets the request on; the limits' fields go on the answer either way. */
  private passes(exchange: GatedExchange, outcome: StageOutcome): boolean {
    if (outcome === 'unavailable') {
      exchange.refuse(503, 'Rate limit store unavailable', 'rate_limit', { 'retry-after': UNAVAILABLE_RETRY_AFTER });
      return false;
    }
    if (outcome.decisions.length === 0) return true;
    const earlier = exchange.rateDecisions;
    const decisions = earlier ? earlier.concat(outcome.decisions) : outcome.decisions;
    exchange.rateDecisions = decisions;
    exchange.addedHeaders = this.fieldsOf(decisions);
    if (outcome.passes) return true;
    const refusing = outcome.decisions.filter(([, decision]) => !decision.allowed);
    const wait = Math.max(...refusing.map(([, decision]) => decision.retryIn));
    exchange.refuse(429, `Rate limit exceeded: ${refusing.map(([limit]) => limit.policy).join(', ')}`, 'rate_limit', { 'retry-after': String(seconds(wait)) });
    return false;
  }

  /**
   * The limits' state in the IETF fields (`RateLimit-Policy`, `RateLimit`: one member per limit)
   * and the widespread `RateLimit-Limit`/`-Remaining`/`-Reset`, which tell of the limit with the
   * fewest requests left. A flat list, added to the answer's head as it is written.
   */
  private fieldsOf(decisions: [RateLimiter, RateDecision][]): string[] {
    let [tightest, fewest] = decisions[0];
    let members = `"${tightest.name}";r=${fewest.remaining};t=${seconds(fewest.resetIn)}`;
    for (let i = 1; i < decisions.length; i += 1) {
      const [limit, decision] = decisions[i];
      members += `, "${limit.name}";r=${decision.remaining};t=${seconds(decision.resetIn)}`;
      if (decision.remaining < fewest.remaining) [tightest, fewest] = [limit, decision];
    }
    return [
      'ratelimit-policy', this.policy!,
      'ratelimit', members,
      'ratelimit-limit', String(tightest.limit),
      'ratelimit-remaining', String(fewest.remaining),
      'ratelimit-reset', String(seconds(fewest.resetIn)),
    ];
  }
}

function refuseAuth(exchange: GatedExchange, refusal: AuthRefusal): void {
  if (refusal.status === 503) return exchange.refuse(503, `Cannot authenticate: ${refusal.detail}`, 'auth', { 'retry-after': JWKS_RETRY_AFTER });
  const challenge = refusal.reason === 'missing' ? BEARER_CHALLENGE : `${BEARER_CHALLENGE}, error="invalid_token", error_description="${refusal.detail}"`;
  exchange.refuse(401, refusal.detail, 'auth', { 'www-authenticate': challenge });
}
