import type { BalanceMode, RetryCondition } from '../config/gateway-options.interface.js';
import type { ResolvedCircuitBreaker, ResolvedHealthCheck } from '../config/resolve-options.js';
import {
  type AttemptFailure,
  type AttemptPolicy,
  type ForwardAttempts,
  type Forwarder,
  type ForwardRequest,
  type Forwarding,
  isSafeToResend,
  NoTargetError,
  writeProxyError,
} from '../proxy/index.js';
import { type Balancer, createBalancer } from './balancers.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { HealthCheck } from './health-check.js';
import { Member } from './member.js';
import { RetryBudget } from './retry-budget.js';

/** A route's targets and the rules between them, as compiled from its options. */
export interface UpstreamSettings {
  targets: { url: URL; weight: number }[];
  balance: BalanceMode;
  hashOn?: string;
  healthCheck?: ResolvedHealthCheck;
  retries: { attempts: number; on: RetryCondition[]; budget: number };
  circuitBreaker?: ResolvedCircuitBreaker;
}

/** What the pool tells the rest of the gateway: it imports neither metrics nor logging. */
export interface UpstreamEvents {
  retried(): void;
  ejected(member: Member): void;
  breakerOpened(member: Member): void;
  healthChanged(member: Member, healthy: boolean): void;
}

/** The first retry waits up to this long (full jitter), each next one twice as long at most. */
const BACKOFF_BASE_MS = 25;
/** A service's `Retry-After` longer than this is not waited for: the failure is answered. */
const MOST_RETRY_AFTER_MS = 1000;

/**
 * The targets of one route: picks one per request (the route's `balance`), takes a target out
 * after repeated failures (outlier detection) or failed active checks, and sends a failed
 * request again, to another target when there is one, within the retry rules and budget.
 */
export class UpstreamPool implements AttemptPolicy {
  readonly members: Member[];
  readonly checks: HealthCheck[] = [];
  private readonly byForwarder = new Map<Forwarder, Member>();
  private readonly balancer: Balancer;
  private readonly budget: RetryBudget;

  constructor(
    private readonly settings: UpstreamSettings,
    forwarderFor: (url: URL) => Forwarder,
    private readonly events: UpstreamEvents,
  ) {
    const { circuitBreaker } = settings;
    this.members = settings.targets.map(({ url, weight }) => new Member(forwarderFor(url), weight, circuitBreaker && new CircuitBreaker(circuitBreaker)));
    for (const member of this.members) this.byForwarder.set(member.forwarder, member);
    this.balancer = createBalancer(settings.balance, this.members, settings.hashOn);
    this.budget = new RetryBudget(settings.retries.budget);
    const { healthCheck } = settings;
    if (healthCheck) {
      for (const member of this.members) this.checks.push(new HealthCheck(member, healthCheck, (changed, healthy) => events.healthChanged(changed, healthy)));
    }
  }

  /** Starts the active health checks, if any. */
  start(): void {
    for (const check of this.checks) check.start();
  }

  stop(): void {
    for (const check of this.checks) check.stop();
  }

  forward(request: ForwardRequest): Forwarding | undefined {
    this.budget.requested();
    const member = this.choose(request);
    if (member) return member.forwarder.forward(request, this);
    writeProxyError(request, new NoTargetError());
    return undefined;
  }

  failed(attempts: ForwardAttempts, failure: AttemptFailure, forwarder: Forwarder): boolean {
    const member = this.byForwarder.get(forwarder)!;
    if (member.failed(() => this.mayEject())) this.events.ejected(member);
    if (member.breaker?.failed()) this.events.breakerOpened(member);
    const { retries } = this.settings;
    if (attempts.attempts > retries.attempts || !retries.on.includes(failure.kind)) return false;
    // Nothing reached a service that refused the connection; anything else may have.
    if (failure.kind === 'connect-error' ? !attempts.replayable() : !isSafeToResend(attempts)) return false;
    const delay = 'status' in failure ? retryDelay(attempts.attempts, failure.retryAfter) : retryDelay(attempts.attempts);
    if (delay === undefined) return false;
    // Another target when there is one; the same one otherwise, on a fresh connection.
    const next = this.choose(attempts.request, member) ?? (member.state() === 'healthy' ? member : undefined);
    if (!next || !this.budget.takeRetry()) return false;
    this.events.retried();
    setTimeout(() => attempts.sendTo(next.forwarder, next === member), delay);
    return true;
  }

  answered(forwarder: Forwarder, status: number): void {
    // A 502-504 was counted as a failure already (`failed` sees each one first).
    if (status >= 502 && status <= 504) return;
    const member = this.byForwarder.get(forwarder)!;
    member.succeeded();
    member.breaker?.succeeded();
  }

  sent(forwarder: Forwarder): void {
    const member = this.byForwarder.get(forwarder)!;
    member.inFlight += 1;
    member.breaker?.taken();
  }

  settled(forwarder: Forwarder): void {
    this.byForwarder.get(forwarder)!.inFlight -= 1;
  }

  /** A target that may take the request now, other than `excluded`; undefined when none can. */
  private choose(request: ForwardRequest, excluded?: Member): Member | undefined {
    const now = Date.now();
    const candidates = this.members.filter((member) => member !== excluded && member.takesRequests(now));
    if (candidates.length === 0) return undefined;
    return this.balancer.pick(candidates, request.req, request.clientAddress);
  }

  /** Outlier detection never ejects more than half of the targets (Envoy's max ejection share). */
  private mayEject(): boolean {
    const now = Date.now();
    const ejected = this.members.filter((member) => member.state(now) === 'ejected').length;
    return this.members.length > 1 && ejected + 1 <= Math.floor(this.members.length / 2);
  }
}

/**
 * The wait before attempt `attempts + 1`: exponential backoff with full jitter, or the service's
 * `Retry-After` (seconds) when it gives one; undefined when that is too long to wait.
 */
function retryDelay(attempts: number, retryAfter?: string): number | undefined {
  if (retryAfter !== undefined && /^\d+$/.test(retryAfter.trim())) {
    const ms = Number(retryAfter) * 1000;
    return ms <= MOST_RETRY_AFTER_MS ? ms : undefined;
  }
  return Math.random() * BACKOFF_BASE_MS * 2 ** (attempts - 1);
}
