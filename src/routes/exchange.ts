import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CacheFill, CacheResult } from '../cache/index.js';
import type { CacheEntry } from '../cache/index.js';
import { X_REQUEST_ID } from '../gateway.constants.js';
import { assignRequestId } from '../logging/index.js';
import type { ProxyReport, UpstreamErrorKind } from '../proxy/index.js';

/** What the stages of a route do with an exchange; the pipeline implements it. */
export interface ExchangeStages {
  answerHit(exchange: Exchange, entry: CacheEntry): void;
  forward(exchange: Exchange, fill?: CacheFill): void;
  upstreamFailed(exchange: Exchange, kind: UpstreamErrorKind): void;
}

/** Sees every exchange of a route end: the access line and the metrics. */
export interface ExchangeObserver {
  /** Called as the exchange starts; the returned function when its response has ended or was cut. */
  start(request: FastifyRequest, id: string): (res: ServerResponse, cache: CacheResult | undefined) => void;
}

/**
 * One request on its way through a route's pipeline: its id, what the cache and the forwarder
 * reported, and the one place where its end is observed, whichever way it ends (answered,
 * refused, or cut). It is the report the forwarder writes to and the outcome the cache lookup
 * answers, so that no stage allocates a callback per request.
 */
export class Exchange implements ProxyReport {
  readonly id: string;
  cache?: CacheResult;
  private readonly ended: (res: ServerResponse, cache: CacheResult | undefined) => void;

  constructor(
    private readonly stages: ExchangeStages,
    observer: ExchangeObserver,
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
  ) {
    this.id = assignRequestId(request.raw);
    this.ended = observer.start(request, this.id);
    reply.raw.once('close', this.onClose);
  }

  hit(entry: CacheEntry): void {
    this.cache = 'HIT';
    this.stages.answerHit(this, entry);
  }

  miss(fill: CacheFill): void {
    this.cache = fill.result;
    this.stages.forward(this, fill);
  }

  upstreamFailed(kind: UpstreamErrorKind): void {
    this.stages.upstreamFailed(this, kind);
  }

  /** Answers with a JSON body written by the gateway itself, closing the connection when asked. */
  answer(statusCode: number, body: object, close = false): void {
    const res = this.reply.raw;
    if (res.headersSent) return;
    const payload = JSON.stringify(body);
    res.writeHead(statusCode, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      [X_REQUEST_ID]: this.id,
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(payload);
  }

  private readonly onClose = () => this.ended(this.reply.raw, this.cache);
}
