import { matcher } from 'matcher';

/** The patterns of an `x-cache-expire` header: comma-separated, blanks ignored. */
export function parseExpirePatterns(header: string | string[]): string[] {
  return (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((pattern) => pattern.trim())
    .filter(Boolean);
}

/**
 * The keys the patterns expire, with `matcher` semantics (`*` crosses `/`, case-sensitive),
 * the same for every store.
 */
export function selectExpiredKeys(keys: string[], patterns: string[]): string[] {
  return keys.length === 0 ? [] : matcher(keys, patterns, { caseSensitive: true });
}
