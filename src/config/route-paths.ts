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
