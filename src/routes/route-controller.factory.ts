import {
  type NestInterceptor,
  Controller,
  Inject,
  Req,
  RequestMapping,
  RequestMethod,
  Res,
  type Type,
  UseInterceptors,
} from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ResponseCacheInterceptor } from '../cache/index.js';
import type { HttpMethod } from '../config/gateway-options.interface.js';
import { HooksInterceptor } from '../middleware/index.js';
import { type Forwarder, ProxyService } from '../proxy/index.js';
import type { CompiledRoute } from './compile-routes.js';
import { gatewayRouteConfig } from './route-hooks.js';

/** The controller built for one route: one handler per method, all forwarding alike. */
export interface RouteController {
  forward(req: FastifyRequest, reply: FastifyReply): Promise<void> | void;
}

/** Name of the handler that serves `method`. */
export const handlerName = (method: HttpMethod): string => `forward${method}`;

/**
 * Builds, at start-up, a controller class for one route: its paths and methods as route
 * metadata, its hooks as an interceptor instance, the cache as `cacheInterceptor` (the class,
 * which Nest's DI builds, or an instance already built). The route is captured in the class,
 * so nothing is looked up per request.
 */
export function createRouteController(
  route: CompiledRoute,
  cacheInterceptor: Type<NestInterceptor> | NestInterceptor = ResponseCacheInterceptor,
): Type<RouteController> {
  class GatewayRouteController implements RouteController {
    private readonly forwarder: Forwarder;

    constructor(@Inject(ProxyService) proxy: ProxyService) {
      this.forwarder = proxy.prepare(route.forward);
    }

    forward(req: FastifyRequest, reply: FastifyReply): Promise<void> | void {
      return this.forwarder(req, reply);
    }
  }
  Object.defineProperty(GatewayRouteController, 'name', {
    value: `GatewayRoute${route.index}Controller`,
  });

  const prototype = GatewayRouteController.prototype as unknown as Record<string, unknown>;
  for (const method of mappedMethods(route.methods)) {
    // Nest keeps one HTTP method per handler, hence a handler per method.
    const name = handlerName(method);
    prototype[name] = function (this: RouteController, req: FastifyRequest, reply: FastifyReply) {
      return this.forward(req, reply);
    };
    const decorators: MethodDecorator[] = [
      RouteConfig(gatewayRouteConfig(route)),
      RequestMapping({ path: route.paths, method: RequestMethod[method] }),
    ];
    // Hooks run first: a cached answer must not skip an onRequest check.
    const interceptors: (Type<NestInterceptor> | NestInterceptor)[] = [];
    if (route.onRequest) interceptors.push(new HooksInterceptor(route.onRequest));
    if (route.cached) interceptors.push(cacheInterceptor);
    if (interceptors.length) decorators.push(UseInterceptors(...interceptors));
    Reflect.decorate(decorators, prototype, name, Object.getOwnPropertyDescriptor(prototype, name));
    Req()(prototype, name, 0);
    Res()(prototype, name, 1);
  }
  Controller()(GatewayRouteController);
  return GatewayRouteController;
}

/** Fastify answers HEAD for every GET route itself; a second HEAD route would clash with it. */
export function mappedMethods(methods: HttpMethod[]): HttpMethod[] {
  return methods.includes('GET') ? methods.filter((method) => method !== 'HEAD') : methods;
}
