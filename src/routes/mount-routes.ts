import type { FastifyInstance, onSendHookHandler, RouteHandlerMethod } from 'fastify';
import type { HttpMethod } from '../config/gateway-options.interface.js';
import { HTTP_METHODS, X_REQUEST_ID } from '../gateway.constants.js';
import type { RoutePipeline } from './route-pipeline.js';
import type { UnroutedRequests } from './unrouted.js';

/** Fastify tells paths apart by shape: `/:id` and `/:name` are one path. */
const pathShape = (path: string) => path.replace(/:[^/]+/g, ':');
/** What the gateway answers 404 on, when it answers unmatched requests: every path no route has. */
const EVERY_PATH = ['/', '/*'];

// Answers fastify sends for a route (those of its hooks) carry the request id too; the
// gateway's own answers add it where they write their head.
const addRequestId: onSendHookHandler = (request, reply, payload, done) => {
  void reply.header(X_REQUEST_ID, request.raw.headers[X_REQUEST_ID]);
  done(null, payload);
};

/** The methods a route is mounted for: a GET route answers HEAD too, forwarded as HEAD. */
export function mountedMethods(methods: HttpMethod[]): HttpMethod[] {
  return methods.includes('GET') && !methods.includes('HEAD') ? [...methods, 'HEAD'] : methods;
}

/**
 * Mounts the routes' pipelines on fastify, the same way for `forRoot` and `forRootAsync`: in a
 * plugin scope of their own whose only content-type parser accepts every body unread, so that
 * the forwarder streams it (as @fastify/http-proxy does), while the host application's routes
 * keep their parsers. The methods a route's path does not allow get 405 there, and with
 * `answerUnmatched` every path no route has gets the gateway's 404 (never where the host app
 * has a route of its own).
 */
export function mountRoutes(fastify: FastifyInstance, pipelines: RoutePipeline[], unrouted: UnroutedRequests, answerUnmatched: boolean): void {
  void fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    for (const pipeline of pipelines) {
      const { route } = pipeline;
      const onSend = route.onRequest || route.onResponse ? addRequestId : undefined;
      for (const method of mountedMethods(route.methods)) {
        for (const url of route.paths) {
          scope.route({ method, url, handler: pipeline.handlerAt(url), exposeHeadRoute: false, ...(onSend ? { onSend } : {}) });
        }
      }
    }
    const claimed = claimedMethods(pipelines);
    for (const [url, methods] of claimed) {
      const notAllowed = unrouted.notAllowed([...methods]);
      for (const method of HTTP_METHODS) {
        // Another route's wider path (`/api/*` around `/api/users`) takes the method here.
        if (!methods.has(method) && !takenElsewhere(claimed, method, url)) mountFree(fastify, scope, method, url, notAllowed);
      }
    }
    if (!answerUnmatched) return;
    for (const url of EVERY_PATH) {
      if (claimed.has(url)) continue;
      for (const method of HTTP_METHODS) mountFree(fastify, scope, method, url, unrouted.notFound);
    }
  });
}

/** Each path of the routes (one per shape) with the methods mounted on it, by any route. */
function claimedMethods(pipelines: RoutePipeline[]): Map<string, Set<HttpMethod>> {
  const byShape = new Map<string, { url: string; methods: Set<HttpMethod> }>();
  for (const { route } of pipelines) {
    for (const url of route.paths) {
      const entry = byShape.get(pathShape(url)) ?? { url, methods: new Set<HttpMethod>() };
      for (const method of mountedMethods(route.methods)) entry.methods.add(method);
      byShape.set(pathShape(url), entry);
    }
  }
  return new Map([...byShape.values()].map(({ url, methods }) => [url, methods]));
}

/** A fastify path as a pattern of the paths it answers: `:name` is a segment, `*` anything. */
function pathPattern(path: string): RegExp {
  const escaped = path.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/:[^/]+/g, '[^/]+').replace(/\*/g, '.*')}$`);
}

/** Whether a route mounts `method` on a path other than `url` that answers `url` too. */
function takenElsewhere(claimed: Map<string, Set<HttpMethod>>, method: HttpMethod, url: string): boolean {
  for (const [other, methods] of claimed) if (other !== url && methods.has(method) && pathPattern(other).test(url)) return true;
  return false;
}

/** Mounts a gateway answer where the host application has no route of its own. */
function mountFree(fastify: FastifyInstance, scope: FastifyInstance, method: HttpMethod, url: string, handler: RouteHandlerMethod): void {
  if (!fastify.hasRoute({ method, url })) scope.route({ method, url, handler, exposeHeadRoute: false });
}
