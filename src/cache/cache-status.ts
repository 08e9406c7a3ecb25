import type { OutgoingHttpHeaders } from 'node:http';
import type { CacheEntry } from './cache-entry.js';

/** The RFC 9211 field every answer of a cached route carries. */
export const CACHE_STATUS = 'cache-status';
/** The gateway's member of it, always the last. */
const MEMBER = 'nest-gateway';

/** Why a request went to the service (RFC 9211 §2.2 `fwd`). */
export type ForwardReason = 'uri-miss' | 'vary-miss' | 'stale' | 'method' | 'bypass';

/** Seconds an entry stays fresh, negative once it is stale. */
export function remainingSeconds(entry: CacheEntry, now: number): number {
  return Math.floor((entry.storedAt + entry.ttl - now) / 1000);
}

/** The service's failures a stale entry answers for (RFC 5861 §4: 500, 502, 503, 504, or no answer). */
const STALE_IF_ERROR_STATUSES = new Set([500, 502, 503, 504]);

/** Whether a stale entry answers a failure of the service with `status`: within its `stale-if-error` window. */
export function answersFailure(entry: CacheEntry, status: number, now: number): boolean {
  return STALE_IF_ERROR_STATUSES.has(status) && now < entry.storedAt + entry.ttl + entry.staleIfError;
}

/** The entry's `Age`: the service's when it was stored, plus the whole seconds since. */
export function ageOf(entry: CacheEntry, now: number): string {
  return String(entry.age + Math.max(0, Math.floor((now - entry.storedAt) / 1000)));
}

/** An answer from the store: fresh (`ttl=42`), or stale while it is refreshed (`ttl=-3`). */
export function hitMember(entry: CacheEntry, now: number): string {
  return `${MEMBER}; hit; ttl=${remainingSeconds(entry, now)}`;
}

/** A miss answered by another request's fill, which it waited for. */
export const COLLAPSED_MEMBER = `${MEMBER}; fwd=uri-miss; collapsed`;

/** A stale entry answered because the service failed with `status` (its own, or the gateway's 502/503/504). */
export function staleAfterFailureMember(status: number): string {
  return `${MEMBER}; fwd=stale; fwd-status=${status}`;
}

/** A request the service answered, and whether the answer was stored. */
export function forwardMember(reason: ForwardReason, stored = false): string {
  return stored ? `${MEMBER}; fwd=${reason}; stored` : `${MEMBER}; fwd=${reason}`;
}

/** The service's own `Cache-Status`, if any, with the gateway's member after it, as one field line. */
export function withMember(own: OutgoingHttpHeaders[string], member: string): string {
  return own === undefined ? member : `${Array.isArray(own) ? own.join(', ') : own}, ${member}`;
}
