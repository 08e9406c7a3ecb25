import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { from, type Observable, of, switchMap } from 'rxjs';
import { X_CACHE, X_CACHE_EXPIRE, X_CACHE_HIT } from '../gateway.constants.js';
import { requestIdHeader } from '../logging/index.js';
import { type CacheEntry, createCacheEntry, matchesIfNoneMatch } from './cache-entry.js';
import { markServedFromCache } from './cache-result.js';
import { parseExpirePatterns } from './cache-expiry.js';
import { buildCacheKey, type CacheAwareRequest } from './cache-key.js';
import { ResponseCacheService } from './response-cache.service.js';

/** Set on a request whose entry the early lookup found missing, so the store is read once. */
const MISSED = Symbol('nest-gateway.cache-missed');
type LookedUpRequest = CacheAwareRequest & { [MISSED]?: true };

/**
 * Serves GET and HEAD from the cache and stores what the services mark with `x-cache-timeout`,
 * around the proxy: it never buffers a response before the client gets it, but copies the
 * chunks of a storable one as they stream (up to `maxEntryBytes`). Responses carrying
 * `x-cache-expire`, of any method, are held until the matching entries are gone.
 */
@Injectable()
export class ResponseCacheInterceptor implements NestInterceptor {
  constructor(@Inject(ResponseCacheService) private readonly cache: ResponseCacheService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const raw = req.raw as CacheAwareRequest;
    const res = reply.raw;

    if (raw.method !== 'GET' && raw.method !== 'HEAD') {
      res.once('pipe', () => this.holdForExpiry(res));
      return next.handle();
    }
    if (raw.cacheDisabled || !this.cache.isAvailable()) {
      res.setHeader(X_CACHE, 'BYPASS');
      res.once('pipe', () => this.holdForExpiry(res));
      return next.handle();
    }
    const key = buildCacheKey(raw, req.originalUrl);
    if ((raw as LookedUpRequest)[MISSED]) return this.serve(key, undefined, reply, next);
    const found = this.cache.read(key);
    if (found instanceof Promise) return from(found).pipe(switchMap((entry) => this.serve(key, entry, reply, next)));
    return this.serve(key, found, reply, next);
  }

  /**
   * A fastify `onRequest` hook for routes with no `onRequest` check of their own: it runs after
   * the middlewares and answers a hit before Nest's pipeline, the cheapest place to serve it.
   */
  readonly serveHitsFirst: onRequestHookHandler = (request, reply, done) => {
    const raw = request.raw as LookedUpRequest;
    if ((raw.method !== 'GET' && raw.method !== 'HEAD') || raw.cacheDisabled || !this.cache.isAvailable()) return done();
    const answer = (entry: CacheEntry | undefined) => {
      if (entry && this.cache.varyMatches(entry, raw)) return this.writeHit(reply, raw, entry);
      raw[MISSED] = true;
      done();
    };
    const found = this.cache.read(buildCacheKey(raw, request.originalUrl));
    if (found instanceof Promise) void found.then(answer);
    else answer(found);
  };

  /** Answers from the entry read for the key, or from the fill in flight, or by proxying. */
  private serve(key: string, entry: CacheEntry | undefined, reply: FastifyReply, next: CallHandler): Observable<unknown> {
    const raw = reply.request.raw;
    const res = reply.raw;
    if (entry && this.cache.varyMatches(entry, raw)) return this.sendHit(reply, raw, entry);
    if (raw.method === 'HEAD' || this.cache.isUncacheable(key)) return this.fill(key, raw, res, next, false);
    const pending = this.cache.pendingFill(key);
    if (!pending) return this.fill(key, raw, res, next, true);
    return from(pending).pipe(
      switchMap((filled) =>
        filled && this.cache.varyMatches(filled, raw) ? this.sendHit(reply, raw, filled) : this.fill(key, raw, res, next, false),
      ),
    );
  }

  /** Proxies a miss; a GET also stores the response, and the leading one lets others wait for it. */
  private fill(key: string, req: IncomingMessage, res: ServerResponse, next: CallHandler, lead: boolean): Observable<unknown> {
    res.setHeader(X_CACHE, 'MISS');
    if (req.method === 'GET') {
      const captured = this.capture(key, req, res);
      if (lead) this.cache.registerFill(key, captured);
    }
    return next.handle();
  }

  /** Resolves with the stored entry, or undefined when the response is not stored. */
  private capture(key: string, req: IncomingMessage, res: ServerResponse): Promise<CacheEntry | undefined> {
    return new Promise((resolve) => {
      let storing = false;
      res.once('close', () => storing || resolve(undefined));
      // The proxy pipes the target's response into ours once its headers are set on `res`.
      res.once('pipe', (source: IncomingMessage) => {
        if (this.holdForExpiry(res)) return resolve(undefined);
        const decision = this.cache.decide(res.statusCode, res.getHeaders(), req);
        if (!decision) return resolve(undefined);

        const chunks: Buffer[] = [];
        let size = 0;
        const collect = (chunk: Buffer) => {
          size += chunk.length;
          if (size <= this.cache.maxEntryBytes) chunks.push(chunk);
          else {
            chunks.length = 0;
            source.off('data', collect);
          }
        };
        source.on('data', collect);

        // The last bytes reach the client only once the entry is stored: a client that has the
        // whole response may send a request that expires it, and that must find it in the store.
        const end = res.end;
        res.end = ((...args: Parameters<ServerResponse['end']>) => {
          res.end = end;
          if (size > this.cache.maxEntryBytes || !source.complete) {
            resolve(undefined);
            return res.end(...args);
          }
          storing = true;
          const entry = createCacheEntry(res.statusCode, res.getHeaders(), Buffer.concat(chunks, size), decision.vary);
          void this.cache.write(key, entry, decision.ttl).then(() => {
            resolve(entry);
            res.end(...args);
          });
          return res;
        }) as ServerResponse['end'];
      });
    });
  }

  /**
   * Holds back the body of a response that carries `x-cache-expire` until the matching entries
   * are deleted, so that no client can read an expired entry after seeing the response that
   * expired it. (Corking the socket is not enough: `end()` uncorks it.) Returns whether it did.
   */
  private holdForExpiry(res: ServerResponse): boolean {
    const header = res.getHeader(X_CACHE_EXPIRE);
    if (header === undefined) return false;
    const { write, end } = res;
    const held: (() => unknown)[] = [];
    res.write = ((...args: Parameters<ServerResponse['write']>) => {
      held.push(() => write.apply(res, args));
      return true;
    }) as ServerResponse['write'];
    res.end = ((...args: Parameters<ServerResponse['end']>) => {
      held.push(() => end.apply(res, args));
      return res;
    }) as ServerResponse['end'];
    void this.cache.expire(parseExpirePatterns(header as string | string[])).finally(() => {
      res.write = write;
      res.end = end;
      for (const release of held) release();
    });
    return true;
  }

  private sendHit(reply: FastifyReply, req: IncomingMessage, entry: CacheEntry): Observable<undefined> {
    this.writeHit(reply, req, entry);
    return of(undefined);
  }

  private writeHit(reply: FastifyReply, req: IncomingMessage, entry: CacheEntry): void {
    reply.hijack();
    const res = reply.raw;
    markServedFromCache(res);
    const age = String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000)));
    if (matchesIfNoneMatch(req.headers['if-none-match'] as string | undefined, entry.etag)) {
      res.writeHead(304, { etag: entry.etag, [X_CACHE]: 'HIT', [X_CACHE_HIT]: '1', age, ...requestIdHeader(req) });
      res.end();
      return;
    }
    const length = entry.status === 204 ? {} : { 'content-length': entry.body.length };
    res.writeHead(entry.status, { ...entry.headers, ...length, [X_CACHE]: 'HIT', [X_CACHE_HIT]: '1', age, ...requestIdHeader(req) });
    res.end(req.method === 'HEAD' ? undefined : entry.body);
  }
}
