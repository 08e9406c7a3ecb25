import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, type Observable, of, switchMap } from 'rxjs';
import type { OnRequestHook } from '../config/gateway-options.interface.js';
import { hookFailureBody } from '../gateway.errors.js';

/**
 * Runs a route's `onRequest` hook before the request is forwarded. Created once per route that
 * has the hook, so routes without hooks pay nothing.
 */
export class HooksInterceptor implements NestInterceptor {
  constructor(private readonly onRequest: OnRequestHook) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    return from(this.runOnRequest(req, reply)).pipe(
      switchMap((proceed) => (proceed ? next.handle() : of(undefined))),
    );
  }

  /** Whether forwarding goes on: not when the hook answered, returned truthy, or threw. */
  private async runOnRequest(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    try {
      const abort = await this.onRequest(req, reply);
      return !abort && !reply.sent;
    } catch (error) {
      if (!reply.sent) {
        reply.code(500).type('application/json').send(hookFailureBody(error));
      }
      return false;
    }
  }
}
