import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OnRequestHook, OnResponseHook } from '../config/gateway-options.interface.js';
import { hookFailureBody } from '../gateway.errors.js';

/** Whether forwarding goes on after a route's `onRequest` hook: not when it answered, returned truthy, or threw. */
export async function runOnRequest(hook: OnRequestHook, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  try {
    const abort = await hook(req, reply);
    if (reply.sent) return false;
    // A hook that stops the forwarding must answer: the client would otherwise wait for nothing.
    if (abort) void reply.code(500).type('application/json').send(hookFailureBody('the onRequest hook stopped the request without answering it'));
    return !abort;
  } catch (error) {
    if (!reply.sent) void reply.code(500).type('application/json').send(hookFailureBody(error));
    return false;
  }
}

/** The service's response as an `onResponse` hook reads it: a stream with its status and headers. */
export class ServiceResponse extends Readable {
  private resumeService?: () => void;

  constructor(
    readonly statusCode: number,
    readonly headers: Record<string, string | string[] | number | undefined>,
  ) {
    super();
    // A hook that reads only the head, or awaits first, has no listener when the service dies.
    this.on('error', () => undefined);
  }

  /** Pushes a chunk; false pauses the service until the hook reads on. */
  offer(chunk: Buffer, resume: () => void): boolean {
    if (this.push(chunk)) return true;
    this.resumeService = resume;
    return false;
  }

  override _read(): void {
    const resume = this.resumeService;
    this.resumeService = undefined;
    resume?.();
  }
}

/**
 * Hands a response to a route's `onResponse` hook instead of the client: status and headers are
 * copied onto `reply` first, the hook sends the body. A hook that throws answers 500 (when
 * nothing was sent yet) and ends the exchange with the service.
 */
export class OnResponseReceiver {
  private response?: ServiceResponse;

  constructor(
    private readonly hook: OnResponseHook,
    private readonly req: FastifyRequest,
    private readonly reply: FastifyReply,
  ) {}

  head(statusCode: number, headers: Record<string, string | string[] | number | undefined>, exchange: { abandon(): void }): void {
    this.response = new ServiceResponse(statusCode, headers);
    void runOnResponse(this.hook, this.req, this.reply, this.response, exchange);
  }

  data(chunk: Buffer, resume: () => void): boolean {
    return this.response!.offer(chunk, resume);
  }

  end(): void {
    this.response!.push(null);
  }

  abort(error: Error): void {
    this.response!.destroy(error);
  }
}

/** Runs the hook on a whole response at hand, e.g. a cached one. */
export function runOnResponseWith(
  hook: OnResponseHook,
  req: FastifyRequest,
  reply: FastifyReply,
  statusCode: number,
  headers: Record<string, string | string[] | number | undefined>,
  body: Buffer,
): void {
  const response = new ServiceResponse(statusCode, headers);
  response.push(body);
  response.push(null);
  void runOnResponse(hook, req, reply, response, undefined);
}

async function runOnResponse(
  hook: OnResponseHook,
  req: FastifyRequest,
  reply: FastifyReply,
  response: ServiceResponse,
  exchange: { abandon(): void } | undefined,
): Promise<void> {
  try {
    reply.code(response.statusCode).headers(response.headers);
    // The hook sees the stream where its signature promises Node's response to the service.
    await hook(req, reply, response as unknown as Parameters<OnResponseHook>[2]);
  } catch (error) {
    exchange?.abandon();
    response.destroy();
    if (!reply.sent) {
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      void reply.code(500).type('application/json').send(hookFailureBody(error));
    }
  }
}
