/**
 * Replaces the prefix at the start of a URL (path and query) by `prefixRewrite`. fastify matches
 * the decoded path, so `/%61pi/x` matches the prefix `/api` without starting with it: the prefix
 * is then found by its segments in the raw URL (encoded slashes are refused before this), never
 * by the decoded length, which would cut the raw URL in the wrong place.
 */
export function createUrlRewriter(prefix: string, prefixRewrite: string): (url: string) => string {
  const base = prefix === '/' ? '' : prefix.replace(/\/+$/, '');
  const segments = base === '' ? 0 : base.split('/').length - 1;
  const rewrite = prefixRewrite.replace(/\/+$/, '');
  const endOfPrefix = (url: string): number => {
    if (url.startsWith(base) && (url.length === base.length || url[base.length] === '/' || url[base.length] === '?')) return base.length;
    let end = 0;
    for (let segment = 0; segment < segments; segment++) {
      const slash = url.indexOf('/', end + 1);
      const query = url.indexOf('?', end + 1);
      const next = Math.min(slash === -1 ? url.length : slash, query === -1 ? url.length : query);
      end = next;
      if (next === query) break;
    }
    return end;
  };
  return (url) => {
    const rewritten = rewrite + url.slice(endOfPrefix(url));
    return rewritten.startsWith('/') ? rewritten : `/${rewritten}`;
  };
}
