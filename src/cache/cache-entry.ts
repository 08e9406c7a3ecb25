import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';

/** A stored response: what a hit sends back. */
export interface CacheEntry {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  etag: string;
  /** Epoch milliseconds, for the `age` header. */
  storedAt: number;
  /** Request header values the response varies on (`respectCacheControl`). */
  vary?: Record<string, string | undefined>;
}

// Headers of one connection, or regenerated on every answer (date, length): never stored.
// The rate limit fields are the gateway's, per request (they would be stale on a hit).
const UNSTORED_HEADERS = [
  'connection',
  'keep-alive',
  'transfer-encoding',
  'date',
  'content-length',
  'x-cache',
  'x-request-id',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
];

/**
 * How a fill ended, for the misses waiting on it: the stored entry; the service's failure
 * (which they share rather than each meet it again); or nothing stored.
 */
export type FillOutcome = CacheEntry | Error | undefined;

/** What to store of a response, decided when its headers arrive. */
export interface StoreDecision {
  ttl: number;
  vary?: Record<string, string | undefined>;
}

/** Builds an entry from the headers sent to the client and the captured body. */
export function createCacheEntry(
  status: number,
  sentHeaders: OutgoingHttpHeaders,
  body: Buffer,
  vary: Record<string, string | undefined> | undefined,
): CacheEntry {
  const headers = { ...sentHeaders };
  for (const name of UNSTORED_HEADERS) delete headers[name];
  const etag =
    typeof headers.etag === 'string' ? headers.etag : `"${createHash('sha1').update(body).digest('base64url')}"`;
  headers.etag = etag;
  return { status, headers, body, etag, storedAt: Date.now(), vary };
}

/** Whether `If-None-Match` names the entry's ETag (weak comparison, RFC 9110 §13.1.2). */
export function matchesIfNoneMatch(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => opaque(tag) === opaque(etag));
}
