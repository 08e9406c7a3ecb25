/** Injection token of the validated {@link GatewayOptions}. */
export const GATEWAY_OPTIONS = 'GATEWAY:OPTIONS';
/** Injection token of the routes compiled from the options. */
export const GATEWAY_ROUTES = 'GATEWAY:ROUTES';

/** Route config key that marks a fastify route as proxied by the gateway. */
export const GATEWAY_ROUTE_CONFIG = 'nestGatewayRoute';

export const DEFAULT_PATH_REGEX = '/*';
export const DEFAULT_PREFIX_REWRITE = '';
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;

export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
] as const;
