import type { FastifyInstance, onSendHookHandler } from 'fastify';
import type { HttpMethod } from '../config/gateway-options.interface.js';
import { X_REQUEST_ID } from '../gateway.constants.js';
import type { RoutePipeline } from './route-pipeline.js';

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
 * keep their parsers.
 */
export function mountRoutes(fastify: FastifyInstance, pipelines: RoutePipeline[]): void {
  void fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    for (const pipeline of pipelines) {
      const { route } = pipeline;
      const onSend = route.onRequest || route.onResponse ? addRequestId : undefined;
      for (const method of mountedMethods(route.methods)) {
        for (const url of route.paths) {
          scope.route({ method, url, handler: pipeline.handle, exposeHeadRoute: false, ...(onSend ? { onSend } : {}) });
        }
      }
    }
  });
}
