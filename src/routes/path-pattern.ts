/** Replaces the prefix at the start of a URL (path and query) by `prefixRewrite`. */
export function createUrlRewriter(prefix: string, prefixRewrite: string): (url: string) => string {
  const prefixLength = prefix === '/' ? 0 : prefix.replace(/\/+$/, '').length;
  const rewrite = prefixRewrite.replace(/\/+$/, '');
  return (url) => {
    const rewritten = rewrite + url.slice(prefixLength);
    return rewritten.startsWith('/') ? rewritten : `/${rewritten}`;
  };
}
