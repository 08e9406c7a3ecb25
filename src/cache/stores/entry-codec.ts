import { type OutgoingHttpHeaders, validateHeaderName, validateHeaderValue } from 'node:http';
import type { CacheEntry } from '../cache-entry.js';

// Bumped when the layout changes: an entry written in another layout reads as a miss and is
// replaced by the next fill, so gateways of two versions can share a Redis during a rollout.
const LAYOUT = 2;
// The layout byte, then the head's length as an unsigned 32-bit integer.
const PREFIX_BYTES = 5;

/**
 * An entry as one Redis string: a layout byte, the head's length, the head as JSON, then the body
 * as it is (JSON would grow a binary body by a third as base64, and cost a pass over it).
 */
export function encodeEntry(entry: CacheEntry): Buffer {
  const { status, headers, etag, storedAt, age, ttl, staleWhileRevalidate, staleIfError, tags } = entry;
  // JSON drops `undefined`: a varied-on header the request lacked is kept as null, else the entry
  // would answer whatever value the next request sends.
  const vary = entry.vary && Object.fromEntries(Object.entries(entry.vary).map(([name, value]) => [name, value ?? null]));
  const head = Buffer.from(JSON.stringify({ status, headers, etag, storedAt, age, ttl, staleWhileRevalidate, staleIfError, tags, vary }));
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix.writeUInt8(LAYOUT, 0);
  prefix.writeUInt32BE(head.length, 1);
  return Buffer.concat([prefix, head, entry.body]);
}

/** The entry a stored string holds, or undefined when it holds none (another layout, damage). */
export function decodeEntry(stored: Buffer): CacheEntry | undefined {
  if (stored.length < PREFIX_BYTES || stored[0] !== LAYOUT) return undefined;
  const bodyStart = PREFIX_BYTES + stored.readUInt32BE(1);
  if (bodyStart > stored.length) return undefined;
  let head: Partial<Omit<CacheEntry, 'vary'>> & { vary?: Record<string, string | null> };
  try {
    head = JSON.parse(stored.toString('utf8', PREFIX_BYTES, bodyStart));
  } catch {
    return undefined;
  }
  const { status, headers, etag, storedAt, age, ttl, staleWhileRevalidate, staleIfError, tags, vary } = head ?? {};
  const numbers = [status, storedAt, age, ttl, staleWhileRevalidate, staleIfError];
  if (numbers.some((value) => typeof value !== 'number') || typeof etag !== 'string' || typeof headers !== 'object' || !headers) return undefined;
  if (tags !== undefined && !Array.isArray(tags)) return undefined;
  if (!writable(status!, headers, etag)) return undefined;
  return {
    status: status!,
    headers,
    body: stored.subarray(bodyStart),
    etag,
    storedAt: storedAt!,
    age: age!,
    ttl: ttl!,
    staleWhileRevalidate: staleWhileRevalidate!,
    staleIfError: staleIfError!,
    tags,
    vary: vary ? Object.fromEntries(Object.entries(vary).map(([name, value]) => [name, value ?? undefined])) : undefined,
  };
}

/**
 * Whether Node would write this head. Redis is shared: an entry damaged there, or written by
 * anything else, whose status or header Node refuses (a CR or LF in a value, a space in a name)
 * would fail every hit until it expired; as a miss, the next fill replaces it.
 */
function writable(status: number, headers: OutgoingHttpHeaders, etag: string): boolean {
  if (!Number.isInteger(status) || status < 100 || status > 999) return false;
  try {
    validateHeaderValue('etag', etag);
    for (const [name, value] of Object.entries(headers)) {
      validateHeaderName(name);
      for (const item of Array.isArray(value) ? value : [value]) validateHeaderValue(name, String(item));
    }
    return true;
  } catch {
    return false;
  }
}
