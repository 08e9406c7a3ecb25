import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/** Random bytes drawn at once: ids for about 128 requests (a trace id and two span ids each). */
const POOL_BYTES = 4096;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * Trace and span ids cut from a pool of random bytes (the system's CSPRNG), made hex once per
 * pool: the SDK's generator drew `Math.random` four times and formatted hex for every trace id,
 * the costliest step of a request's span on the gateway's path. An id is a slice of the pool's
 * hex, so it costs no copy; the all-zero ids W3C calls invalid are skipped, as the SDK does.
 */
export class PooledIdGenerator implements IdGenerator {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private hex = '';
  private at = 0;

  /** `fill` writes random bytes over the pool. */
  constructor(private readonly fill: (pool: Buffer) => Buffer = randomFillSync) {}

  generateTraceId(): string {
    const id = this.next(32);
    return id === INVALID_TRACE_ID ? this.generateTraceId() : id;
  }

  generateSpanId(): string {
    const id = this.next(16);
    return id === INVALID_SPAN_ID ? this.generateSpanId() : id;
  }

  private next(length: number): string {
    if (this.at + length > this.hex.length) {
      this.hex = this.fill(this.pool).toString('hex');
      this.at = 0;
    }
    return this.hex.slice(this.at, (this.at += length));
  }
}
