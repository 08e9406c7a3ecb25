import type { ResolvedHealthCheck } from '../config/resolve-options.js';
import type { Member } from './member.js';

/** Told of each check, and of each change of a target's state, once per change. */
export interface HealthEvents {
  checked(member: Member, passed: boolean): void;
  healthChanged(member: Member, healthy: boolean): void;
}

/**
 * Active health checks of one target: `GET <path>` every `interval` (jittered by up to a tenth,
 * so that the checks of many targets and gateways spread out), 2xx and 3xx pass. After
 * `unhealthyThreshold` failures in a row the target takes no requests, after
 * `healthyThreshold` passes in a row it takes them again. A passing check also ends an
 * ejection by outlier detection (Envoy's `successful_active_health_check_uneject_host`).
 */
export class HealthCheck {
  private timer?: NodeJS.Timeout;
  private passesInARow = 0;
  private failuresInARow = 0;
  constructor(
    private readonly member: Member,
    private readonly settings: ResolvedHealthCheck,
    private readonly events: HealthEvents,
  ) {}

  start(): void {
    this.schedule(Math.random() * this.settings.interval);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => void this.check(), delay);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const { interval, path, timeout, healthyThreshold, unhealthyThreshold } = this.settings;
    const passed = await this.member.forwarder.probe(path, timeout);
    if (!this.timer) return;
    const member = this.member;
    this.events.checked(member, passed);
    if (passed) {
      this.failuresInARow = 0;
      this.passesInARow += 1;
      if (!member.checkedHealthy && this.passesInARow >= healthyThreshold) {
        member.passesChecks();
        this.events.healthChanged(member, true);
      } else if (member.checkedHealthy && member.state() === 'ejected') {
        // As Envoy does by default: a passing active check ends an ejection.
        member.passesChecks();
      }
    } else {
      this.passesInARow = 0;
      this.failuresInARow += 1;
      if (member.checkedHealthy && this.failuresInARow >= unhealthyThreshold) {
        member.checkedHealthy = false;
        this.events.healthChanged(member, false);
      }
    }
    this.schedule(interval * (0.9 + Math.random() * 0.2));
  }
}
