import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GATEWAY_ROUTE_CONFIG } from '../gateway.constants.js';

// Fastify picks a body parser by content type for every route of the instance, and the host
// application may rely on its JSON parser. Proxied routes must see the raw stream instead, so
// their requests are given, between the middlewares and the parser, a content type only this
// no-op parser accepts; the real one is put back before the handler runs.
const PASSTHROUGH_CONTENT_TYPE = 'application/x-nest-gateway-passthrough';
const CONTENT_TYPE = Symbol('nest-gateway.content-type');

type ProxiedRequest = FastifyRequest & { [CONTENT_TYPE]?: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    [GATEWAY_ROUTE_CONFIG]?: boolean;
  }
}

const isProxied = (request: FastifyRequest): boolean =>
  request.routeOptions.config?.[GATEWAY_ROUTE_CONFIG] === true;

/** Makes fastify hand the bodies of gateway routes to the handler unread. Once per instance. */
export function installBodyPassthrough(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(PASSTHROUGH_CONTENT_TYPE, (_request, _payload, done) => done(null));

  fastify.addHook('preParsing', (request: ProxiedRequest, _reply, payload, done) => {
    if (isProxied(request)) {
      const headers = request.raw.headers;
      request[CONTENT_TYPE] = headers['content-type'];
      headers['content-type'] = PASSTHROUGH_CONTENT_TYPE;
    }
    done(null, payload);
  });

  fastify.addHook('preValidation', (request: ProxiedRequest, _reply, done) => {
    if (isProxied(request)) {
      const contentType = request[CONTENT_TYPE];
      if (contentType === undefined) delete request.raw.headers['content-type'];
      else request.raw.headers['content-type'] = contentType;
    }
    done();
  });
}
