import type { ResolvedUpstreamRules } from '../config/resolve-options.js';
import {
  answerFailure,
  type AttemptFailure,
  type AttemptPolicy,
  type ForwardAttempts,
  type Forwarder,
  type ForwardRequest,
  type Forwarding,
  FAILURE_STATUSES,
  type HandshakeResult,
  isSafeToResend,
  NoTargetError,
  type UpgradeClient,
  type UpgradeDestination,
  type UpgradeTargets,
} from '../proxy/index.js';
import { type Balancer, createBalancer } from './balancers.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { DnsDiscovery, type PoolTarget } from './dns-discovery.js';
import { HealthCheck } from './health-check.js';
import { Member } from './member.js';
import { RetryBudget } from './retry-budget.js';

/** A route's targets and the rules between them, as compiled from its options. */
export interface UpstreamSettings extends ResolvedUpstreamRules {
  targets: PoolTarget[];
}

/** Where a pool gets the forwarder of each target, and gives back those of targets gone. */
export interface ForwarderSource {
  create(target: PoolTarget): Forwarder;
  release(forwarder: Forwarder): Promise<void>;
}

/** What the pool tells the rest of the gateway: it imports neither metrics nor logging. */
export interface UpstreamEvents {
  retried(): void;
  ejected(member: Member): void;
  /** DNS discovery changed the targets, or could not resolve one of their names. */
  discovered(targets: string[]): void;
  discoveryFailed(name: string, error: Error): void;
  breakerOpened(member: Member): void;
  healthChanged(member: Member, healthy: boolean): void;
  /** An active check of `member` ended. */
  checked(member: Member, passed: boolean): void;
}

/**
 * One WebSocket upgrade, counted by its pool as an HTTP request to the same target is: in flight
 * until its handshake fails or its connection closes (an open connection is load on its target,
 * as Envoy counts an upgraded stream and HAProxy's `leastconn` a connection), and its handshake
 * answered or failed.
 */
class PooledUpgrade implements UpgradeDestination {
  readonly target: URL;
  readonly host?: string;

  constructor(
    private readonly pool: UpstreamPool,
    private readonly forwarder: Forwarder,
  ) {
    ({ target: this.target, host: this.host } = forwarder.route);
  }

  settled(result: HandshakeResult, statusCode?: number): void {
    if (result === 'failed' || (result === 'declined' && FAILURE_STATUSES.has(statusCode!))) this.pool.countFailure(this.forwarder);
    else if (result !== 'abandoned') this.pool.answered(this.forwarder, statusCode ?? 101);
    if (result !== 'upgraded') this.pool.settled(this.forwarder);
  }

  closed(): void {
    this.pool.settled(this.forwarder);
  }
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
export class UpstreamPool implements AttemptPolicy, UpgradeTargets {
  members: Member[] = [];
  private readonly checks = new Map<Member, HealthCheck>();
  private readonly byForwarder = new Map<Forwarder, Member>();
  private balancer!: Balancer;
  private readonly budget: RetryBudget;
  private readonly discovery?: DnsDiscovery;
  private started = false;

  constructor(
    private readonly settings: UpstreamSettings,
    private readonly forwarders: ForwarderSource,
    private readonly events: UpstreamEvents,
  ) {
    this.budget = new RetryBudget(settings.retries.budget);
    this.setTargets(settings.targets);
    if (settings.discovery) {
      this.discovery = new DnsDiscovery(settings.targets, settings.discovery, (found) => this.setTargets(found), events.discoveryFailed);
    }
  }

  /** Starts the active health checks and the DNS discovery, if any. */
  start(): void {
    this.started = true;
    for (const check of this.checks.values()) check.start();
    this.discovery?.start();
  }

  stop(): void {
    this.started = false;
    for (const check of this.checks.values()) check.stop();
    this.discovery?.stop();
  }

  /**
   * Makes `targets` the pool's: a target it has already keeps its state (health, ejection,
   * requests in flight), a new one starts healthy, one gone is closed once its requests end.
   */
  setTargets(targets: PoolTarget[]): void {
    const known = new Map(this.members.map((member) => [member.href, member]));
    const members = targets.map((target) => known.get(target.url.href) ?? this.added(target));
    const gone = this.members.filter((member) => !members.includes(member));
    for (const member of gone) this.removed(member);
    const changed = gone.length > 0 || members.length !== this.members.length;
    this.members = members;
    this.balancer = createBalancer(this.settings.balance, members, this.settings.hashOn);
    if (changed && this.started) this.events.discovered(members.map((member) => member.href));
  }

  private added(target: PoolTarget): Member {
    const { circuitBreaker, healthCheck } = this.settings;
    const member = new Member(this.forwarders.create(target), target.weight, circuitBreaker && new CircuitBreaker(circuitBreaker));
    this.byForwarder.set(member.forwarder, member);
    if (healthCheck) {
      const check = new HealthCheck(member, healthCheck, this.events);
      this.checks.set(member, check);
      if (this.started) check.start();
    }
    return member;
  }

  private removed(member: Member): void {
    this.checks.get(member)?.stop();
    this.checks.delete(member);
    // Its requests in flight still report to the pool until they end.
    void this.forwarders.release(member.forwarder).finally(() => this.byForwarder.delete(member.forwarder));
  }

  forward(request: ForwardRequest): Forwarding | undefined {
    this.budget.requested();
    const member = this.choose(request);
    if (member) return member.forwarder.forward(request, this);
    answerFailure(request, new NoTargetError());
    return undefined;
  }

  /**
   * One WebSocket upgrade's target, by the route's `balance` among those taking requests now.
   * It is a request in flight to the target (for least-request and the breaker's `maxPending`)
   * until its handshake fails or its connection closes; a handshake failing or declined with
   * 502-504 counts as the target's failure, as an HTTP request would. Never retried: the
   * upgrade may have reached the service.
   */
  upgradeDestination(client: UpgradeClient): UpgradeDestination | undefined {
    const member = this.choose(client);
    if (!member) return undefined;
    this.sent(member.forwarder);
    return new PooledUpgrade(this, member.forwarder);
  }

  /** A failure of the target behind `forwarder`, toward ejecting it and opening its breaker. */
  countFailure(forwarder: Forwarder): void {
    const member = this.byForwarder.get(forwarder)!;
    if (member.failed(this.settings.outlierDetection, () => this.mayEject())) this.events.ejected(member);
    if (member.breaker?.failed()) this.events.breakerOpened(member);
  }

  failed(attempts: ForwardAttempts, failure: AttemptFailure, forwarder: Forwarder): boolean {
    const member = this.byForwarder.get(forwarder)!;
    this.countFailure(forwarder);
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
    if (FAILURE_STATUSES.has(status)) return;
    const member = this.byForwarder.get(forwarder)!;
    member.breaker?.succeeded();
    // Envoy's consecutive 5xx: any 5xx answer counts toward ejecting the target; only 502-504
    // (the target failing as a service) also count for its breaker and retries.
    if (status < 500) member.succeeded();
    else if (member.failed(this.settings.outlierDetection, () => this.mayEject())) this.events.ejected(member);
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
  private choose(request: Pick<ForwardRequest, 'req' | 'clientIp'>, excluded?: Member): Member | undefined {
    const now = Date.now();
    const candidates = this.members.filter((member) => member !== excluded && member.takesRequests(now));
    if (candidates.length === 0) return undefined;
    return this.balancer.pick(candidates, request.req, request.clientIp);
  }

  /**
   * Outlier detection ejects at most `maxEjectedShare` of the targets (Envoy's max ejection
   * percent), and one of two or more whatever the share; never a route's only target.
   */
  private mayEject(): boolean {
    const now = Date.now();
    const ejected = this.members.filter((member) => member.state(now) === 'ejected').length;
    const most = Math.max(1, Math.floor(this.members.length * this.settings.outlierDetection.maxEjectedShare));
    return this.members.length > 1 && ejected < Math.min(most, this.members.length - 1);
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
