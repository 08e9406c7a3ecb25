import type { LoggerService } from '@nestjs/common';

/**
 * A warning logged at most once per `intervalMs`, with the count of those held back since: a
 * failure that repeats on every request (a dead service, Redis down) must not flood the log,
 * nor slow every request down with log writes.
 */
export function throttledWarning(logger: LoggerService, intervalMs: number): (message: string) => void {
  let lastAt = -Infinity;
  let held = 0;
  return (message) => {
    const now = Date.now();
    if (now - lastAt < intervalMs) {
      held += 1;
      return;
    }
    logger.warn(held ? `${message} (and ${held} more in the last ${Math.round((now - lastAt) / 1000)} s)` : message);
    lastAt = now;
    held = 0;
  };
}
