import ms from 'ms';

const BARE_NUMBER = /^\s*\d+(\.\d+)?\s*$/;
/** `ms` reads these as milliseconds: as a cache lifetime, a service's typo of seconds more likely than a wish. */
const MILLISECOND_UNIT = /\d\s*(ms|msecs?|milliseconds?)\s*$/i;

/**
 * `x-cache-timeout` in milliseconds: `ms` notation in seconds or longer ("1 hour", "30s"), or a
 * bare number of seconds as in `max-age`. Undefined when unparseable, not positive, or in
 * milliseconds ("10ms"), which the gateway does not take.
 */
export function parseCacheTtl(value: string): number | undefined {
  if (value.trim() === '' || MILLISECOND_UNIT.test(value)) return undefined;
  const ttl = BARE_NUMBER.test(value) ? Number(value) * 1000 : ms(value.trim() as ms.StringValue);
  // Whole milliseconds: Redis refuses a fractional `PX`, and the entry would go unstored.
  return Number.isFinite(ttl) && ttl > 0 ? Math.ceil(ttl) : undefined;
}

export interface CacheControl {
  /** TTL from `s-maxage`, else `max-age`, in milliseconds. */
  ttl?: number;
  /** `stale-while-revalidate` (RFC 5861), in milliseconds. */
  staleWhileRevalidate?: number;
  /** `stale-if-error` (RFC 5861), in milliseconds. */
  staleIfError?: number;
  /** `no-store` or `private`: never stored. */
  forbidsStoring: boolean;
}

const DIRECTIVE = /(?:^|,)\s*([a-z-]+)\s*(?:=\s*"?(\d+)"?)?/gi;

/** Reads the directives of a response's `Cache-Control` that a shared cache obeys. */
export function parseCacheControl(header: string | undefined): CacheControl {
  const directives = new Map<string, string | undefined>();
  for (const [, name, value] of (header ?? '').matchAll(DIRECTIVE)) directives.set(name.toLowerCase(), value);
  return {
    ttl: milliseconds(directives.get('s-maxage') ?? directives.get('max-age')),
    staleWhileRevalidate: milliseconds(directives.get('stale-while-revalidate')),
    staleIfError: milliseconds(directives.get('stale-if-error')),
    forbidsStoring: directives.has('no-store') || directives.has('private'),
  };
}

/** A directive's delta-seconds in milliseconds, when positive. */
function milliseconds(seconds: string | undefined): number | undefined {
  const value = seconds === undefined ? undefined : Number(seconds);
  return value !== undefined && value > 0 ? value * 1000 : undefined;
}
