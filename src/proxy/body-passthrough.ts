import type { FastifyInstance, FastifyRequest, preParsingHookHandler, preValidationHookHandler } from 'fastify';
import { GATEWAY_ROUTE_CONFIG } from '../gateway.constants.js';

// Fastify picks a body parser by content type for every route of the instance, and the host
// application may rely on its JSON parser. Proxied routes must see the raw stream instead, so
// their requests are given, between the middlewares and the parser, a content type only this
// no-op parser accepts; the real one is put back before the handler runs. The hooks are the
// gateway routes' own (see routes/route-hooks.ts): the host's routes pay nothing.
const PASSTHROUGH_CONTENT_TYPE = 'application/x-nest-gateway-passthrough';
const CONTENT_TYPE = Symbol('nest-gateway.content-type');

type ProxiedRequest = FastifyRequest & { [CONTENT_TYPE]?: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    [GATEWAY_ROUTE_CONFIG]?: boolean;
  }
}

/** Route hook: hides the content type from fastify's parsers. */
export const hideContentType: preParsingHookHandler = (request: ProxiedRequest, _reply, payload, done) => {
  const headers = request.raw.headers;
  request[CONTENT_TYPE] = headers['content-type'];
  headers['content-type'] = PASSTHROUGH_CONTENT_TYPE;
  done(null, payload);
};

/** Route hook: gives the request its content type back for the handler. */
export const restoreContentType: preValidationHookHandler = (request: ProxiedRequest, _reply, done) => {
  const contentType = request[CONTENT_TYPE];
  if (contentType === undefined) delete request.raw.headers['content-type'];
  else request.raw.headers['content-type'] = contentType;
  done();
};

/** Registers the parser that accepts every body of a gateway route unread. Once per instance. */
export function installPassthroughParser(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(PASSTHROUGH_CONTENT_TYPE, (_request, _payload, done) => done(null));
}
