import { matcher } from 'matcher';

/** The patterns of an `x-cache-expire` header: comma-separated, blanks ignored. */
export function parseExpirePatterns(header: string | string[]): string[] {
  return (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((pattern) => pattern.trim())
    .filter(Boolean);
}

/**
 * Whether a key is one of a route's: its path is the prefix or below it. Keys are
 * `METHOD scheme://host/path…` (`buildCacheKey`), and a host holds no `/`.
 */
export function keyOfRoute(prefix: string): (key: string) => boolean {
  const base = prefix.replace(/\/+$/, '');
  return (key) => {
    const path = key.indexOf('/', key.indexOf('://') + 3);
    if (path === -1 || !key.startsWith(base, path)) return false;
    // The prefix ends where a path segment does: `/api` owns `/api/x` and `/api?x`, not `/apis`.
    return !SEGMENT_CHARACTER.test(key.charAt(path + base.length));
  };
}

const SEGMENT_CHARACTER = /[A-Za-z0-9._~%!$&'()*+,;=:@-]/;

/**
 * The keys the patterns expire, with `matcher` semantics (`*` crosses `/`, case-sensitive),
 * the same for every store.
 */
export function selectExpiredKeys(keys: string[], patterns: string[], within?: (key: string) => boolean): string[] {
  if (keys.length === 0) return [];
  const matched = matcher(keys, patterns, { caseSensitive: true });
  return within ? matched.filter(within) : matched;
}
