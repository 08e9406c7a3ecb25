import { Transform, type TransformCallback } from 'node:stream';
import { BodyIdleError, BodyTooLargeError } from './proxy-errors.js';

/**
 * Passes a client's request body on while counting its bytes and watching its pace: past
 * `limitBytes` it fails with {@link BodyTooLargeError} (bodies without `content-length`, whose
 * size is only known by reading them), and after `idleMs` without a byte with
 * {@link BodyIdleError}, so that a client trickling its body cannot hold a connection to the
 * service for long. Waiting for the service to read does not count as the client's silence.
 */
export class RequestBodyStream extends Transform {
  private received = 0;
  /** What was read has not been taken by the service yet: the silence is not the client's. */
  private serviceBehind = false;
  private readonly idle: NodeJS.Timeout;

  constructor(
    private readonly limitBytes: number,
    private readonly idleMs: number,
  ) {
    super();
    this.idle = setTimeout(() => this.onIdle(), idleMs);
  }

  private onIdle(): void {
    if (this.destroyed) return;
    if (this.serviceBehind) this.idle.refresh();
    else this.destroy(new BodyIdleError(this.idleMs));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.idle.refresh();
    this.received += chunk.length;
    if (this.received > this.limitBytes) {
      callback(new BodyTooLargeError(this.limitBytes));
      return;
    }
    callback(null, chunk);
    this.serviceBehind = this.readableLength >= this.readableHighWaterMark;
  }

  override _read(size: number): void {
    this.serviceBehind = false;
    this.idle.refresh();
    super._read(size);
  }

  override _flush(callback: TransformCallback): void {
    clearTimeout(this.idle);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idle);
    callback(error);
  }
}
