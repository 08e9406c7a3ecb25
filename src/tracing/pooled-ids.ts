import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/** Random bytes drawn at once: ids for about 128 requests (a trace id and two span ids each). */
const POOL_BYTES = 4096;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * Trace and span ids cut from a pool of random bytes (the system's CSPRNG): the SDK's generator
 * drew `Math.random` four times and formatted hex for every trace id, the costliest step of a
 * request's span on the gateway's path. Each id is its own hex string, made from its bytes
 * (~0.1 µs): ids sliced from one hex string of the whole pool kept that string alive, and under
 * load ~220 KiB were promoted out of each young-generation collection (~9 KiB with ids of their
 * own), a full collection every half second. The all-zero ids W3C calls invalid are skipped, as
 * the SDK does.
 */
export class PooledIdGenerator implements IdGenerator {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  /** Where the next id's bytes start: the pool is drawn when it holds too few. */
  private at = POOL_BYTES;

  /** `fill` writes random bytes over the pool. */
  constructor(private readonly fill: (pool: Buffer) => Buffer = randomFillSync) {}

  generateTraceId(): string {
    const id = this.next(16);
    return id === INVALID_TRACE_ID ? this.generateTraceId() : id;
  }

  generateSpanId(): string {
    const id = this.next(8);
    return id === INVALID_SPAN_ID ? this.generateSpanId() : id;
  }

  /** The hex of the next `bytes` of the pool. */
  private next(bytes: number): string {
    if (this.at + bytes > POOL_BYTES) {
      this.fill(this.pool);
      this.at = 0;
    }
    return this.pool.toString('hex', this.at, (this.at += bytes));
  }
}
