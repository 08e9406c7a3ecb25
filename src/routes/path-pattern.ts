/**
 * The fastify paths a route answers. `'/*'` covers the prefix itself too (`/users` and
 * `/users/...`), which fastify's `/users/*` alone does not.
 */
export function toRoutePaths(prefix: string, pathRegex: string): string[] {
  const base = prefix === '/' ? '' : prefix.replace(/\/+$/, '');
  if (pathRegex === '') return [base || '/'];
  const pattern = pathRegex.startsWith('/') ? pathRegex : `/${pathRegex}`;
  if (pattern === '/*') return [base || '/', `${base}/*`];
  return [`${base}${pattern}`];
}

/** Replaces the prefix at the start of a URL (path and query) by `prefixRewrite`. */
export function createUrlRewriter(prefix: string, prefixRewrite: string): (url: string) => string {
  const prefixLength = prefix === '/' ? 0 : prefix.replace(/\/+$/, '').length;
  const rewrite = prefixRewrite.replace(/\/+$/, '');
  return (url) => {
    const rewritten = rewrite + url.slice(prefixLength);
    return rewritten.startsWith('/') ? rewritten : `/${rewritten}`;
  };
}
