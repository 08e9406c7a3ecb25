import { Transform, type TransformCallback } from 'node:stream';
import { BodyTooLargeError } from './proxy-errors.js';

/**
 * Passes a body through while counting its bytes, and fails with {@link BodyTooLargeError}
 * as soon as it exceeds the limit: used for bodies without `content-length` (chunked),
 * whose size is only known by reading them.
 */
export class BodyLimitStream extends Transform {
  private received = 0;

  constructor(private readonly limitBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.limitBytes) {
      callback(new BodyTooLargeError(this.limitBytes));
      return;
    }
    callback(null, chunk);
  }
}
