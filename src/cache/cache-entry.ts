import { createHash } from 'node:crypto';
import { types } from 'node:util';
import type { OutgoingHttpHeaders } from 'node:http';

/** How long an entry is served, in milliseconds from when it was stored. */
export interface EntryLifetime {
  /** Fresh: answered as it is. */
  ttl: number;
  /** Past `ttl`: still answered at once while one request in the background refreshes it. */
  staleWhileRevalidate: number;
  /** Past `ttl`: answered when the service fails (refused, reset, timed out, 500/502/503/504). */
  staleIfError: number;
}

/** A stored response: what a hit sends back. */
export interface CacheEntry extends EntryLifetime {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  etag: string;
  /** Epoch milliseconds, for the `age` header and the lifetime. */
  storedAt: number;
  /** The service's own `Age` when it was stored, in seconds: a hit's `Age` starts there. */
  age: number;
  /** What `x-cache-expire-tags` and the purge API find it by. */
  tags?: string[];
  /** Request header values the response varies on (`respectCacheControl`). */
  vary?: Record<string, string | undefined>;
}

/** How long a store keeps an entry: while it may be answered fresh or stale. */
export function keptFor(lifetime: EntryLifetime): number {
  return lifetime.ttl + Math.max(lifetime.staleWhileRevalidate, lifetime.staleIfError);
}

// Headers of one connection, or regenerated on every answer (date, length, age): never stored.
// The rate limit fields are the gateway's, per request (they would be stale on a hit).
const UNSTORED_HEADERS = [
  'connection',
  'keep-alive',
  'transfer-encoding',
  'date',
  'content-length',
  'age',
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

/**
 * Whether a fill ended in the service's failure. Not `instanceof Error`: a socket's error is made
 * by Node's own realm, which a VM context (a test runner's) does not share.
 */
export function isFailure(outcome: FillOutcome): outcome is Error {
  return types.isNativeError(outcome);
}

/** What to store of a response, decided when its headers arrive. */
export interface StoreDecision extends EntryLifetime {
  tags?: string[];
  vary?: Record<string, string | undefined>;
}

/**
 * Builds an entry from the headers sent to the client and the captured body. The service's
 * `Age` (whole seconds, RFC 9111 §5.1) becomes where the entry's own age starts.
 */
export function createCacheEntry(status: number, sentHeaders: OutgoingHttpHeaders, body: Buffer, decision: StoreDecision): CacheEntry {
  const headers = { ...sentHeaders };
  const serviceAge = Number(Array.isArray(headers.age) ? headers.age[0] : headers.age);
  for (const name of UNSTORED_HEADERS) delete headers[name];
  const etag =
    typeof headers.etag === 'string' ? headers.etag : `"${createHash('sha1').update(body).digest('base64url')}"`;
  headers.etag = etag;
  const { ttl, staleWhileRevalidate, staleIfError, tags, vary } = decision;
  const age = Number.isSafeInteger(serviceAge) && serviceAge > 0 ? serviceAge : 0;
  return { status, headers, body, etag, storedAt: Date.now(), age, ttl, staleWhileRevalidate, staleIfError, tags, vary };
}

/** Whether `If-None-Match` names the entry's ETag (weak comparison, RFC 9110 §13.1.2). */
export function matchesIfNoneMatch(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => opaque(tag) === opaque(etag));
}
