import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor, StreamableFile } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Observable } from 'rxjs';
import { X_CACHE, X_CACHE_EXPIRE, X_CACHE_TIMEOUT, X_REQUEST_ID } from '../gateway.constants.js';
import type { CacheEntry } from './cache-entry.js';
import type { CacheFill } from './cache-fill.js';
import type { CacheAwareRequest } from './cache-key.js';
import { lookUpResponse, writeHit } from './cache-lookup.js';
import { ResponseCacheService } from './response-cache.service.js';

/**
 * The gateway's response cache for a host application's own controllers:
 * `@UseInterceptors(ResponseCacheInterceptor)` gives their handlers the semantics of the
 * gateway's routes (a response with `x-cache-timeout` is stored, one with `x-cache-expire`
 * expires entries, keys as for proxied requests) and the same store. What a handler returns is
 * stored as fastify will send it: a Buffer or string as it is, anything else as JSON; a stream
 * (`StreamableFile`, a `Readable`) passes uncached.
 */
@Injectable()
export class ResponseCacheInterceptor implements NestInterceptor {
  constructor(@Inject(ResponseCacheService) private readonly cache: ResponseCacheService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const raw = request.raw as CacheAwareRequest;
    return new Observable((subscriber) => {
      lookUpResponse(this.cache, raw, { originalUrl: request.originalUrl, scheme: request.protocol, host: request.host }, {
        hit: (entry: CacheEntry, status: string) => {
          reply.hijack();
          writeHit(reply.raw, raw, entry, String(raw.headers[X_REQUEST_ID] ?? request.id), status);
          subscriber.complete();
        },
        fail: (error: unknown) => subscriber.error(error),
        miss: (fill: CacheFill) => {
          if (fill.result) void reply.header(X_CACHE, fill.result);
          let filled = Promise.resolve();
          next.handle().subscribe({
            next: (value) => {
              filled = this.fillWith(fill, reply, value).then(() => subscriber.next(value));
            },
            error: (error) => {
              fill.abort();
              stripInstructions(reply);
              subscriber.error(error);
            },
            // Whatever happened, the fill is settled (a stored entry stays stored): misses
            // waiting on it go on.
            complete: () =>
              void filled.then(
                () => {
                  fill.abort();
                  stripInstructions(reply);
                  subscriber.complete();
                },
                (error: unknown) => {
                  fill.abort();
                  subscriber.error(error);
                },
              ),
          });
        },
      });
    });
  }

  private async fillWith(fill: CacheFill, reply: FastifyReply, value: unknown): Promise<void> {
    // A stream is sent as it comes; storing it would mean reading it here first.
    if (value instanceof StreamableFile || value instanceof Readable) {
      fill.abort();
      stripInstructions(reply);
      return;
    }
    const body = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value ?? null));
    const headers = { ...reply.getHeaders() } as OutgoingHttpHeaders;
    headers['content-type'] ??= Buffer.isBuffer(value) ? 'application/octet-stream' : typeof value === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
    await fill.head(reply.statusCode, headers);
    stripInstructions(reply);
    fill.chunk(body);
    await fill.end();
  }
}

/** The handler's instructions to the cache are not the client's to see, whatever the outcome. */
function stripInstructions(reply: FastifyReply): void {
  reply.removeHeader(X_CACHE_TIMEOUT);
  reply.removeHeader(X_CACHE_EXPIRE);
}
