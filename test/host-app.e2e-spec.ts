import { createHash, randomBytes } from 'node:crypto';
import {
  type CallHandler,
  type CanActivate,
  Controller,
  type ExecutionContext,
  ForbiddenException,
  Get,
  type INestApplication,
  Injectable,
  Module,
  type NestInterceptor,
  Post,
  RequestTimeoutException,
  Res,
  StreamableFile,
  UseInterceptors,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { catchError, tap, throwError, timeout, TimeoutError } from 'rxjs';
import request from 'supertest';
import { ResponseCacheInterceptor } from '../src/index.js';
import { gatewayModule, MOUNT_MODES, startApp, startGateway, type RunningGateway } from './support/gateway.js';
import { sendAfterContinue } from './support/raw-http.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';
import { openWebSocket, startWebSocketService } from './support/websocket.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A host app's own controller, cached by the gateway's interceptor. */
@Controller('own')
@UseInterceptors(ResponseCacheInterceptor)
class OwnController {
  calls = 0;

  @Get('numbers')
  numbers(@Res({ passthrough: true }) reply: FastifyReply) {
    this.calls += 1;
    void reply.header('x-cache-timeout', '1 minute');
    return { serial: this.calls };
  }

  @Get('text')
  text(@Res({ passthrough: true }) reply: FastifyReply) {
    this.calls += 1;
    void reply.header('x-cache-timeout', '1 minute');
    return `text ${this.calls}`;
  }

  @Get('bytes')
  bytes(@Res({ passthrough: true }) reply: FastifyReply) {
    this.calls += 1;
    void reply.header('x-cache-timeout', '1 minute');
    return Buffer.from([0, 1, 2, this.calls % 256]);
  }

  @Get('file')
  file(@Res({ passthrough: true }) reply: FastifyReply) {
    this.calls += 1;
    void reply.header('x-cache-timeout', '1 minute');
    return new StreamableFile(Buffer.from(`file ${this.calls}`), { type: 'text/plain' });
  }

  @Get('broken')
  broken() {
    throw new Error('handler exploded');
  }

  @Get('unserialisable')
  unserialisable(@Res({ passthrough: true }) reply: FastifyReply) {
    void reply.header('x-cache-timeout', '1 minute');
    return { count: 1n };
  }

  @Get('fresh')
  fresh() {
    this.calls += 1;
    return { serial: this.calls };
  }

  @Post('numbers')
  change(@Res({ passthrough: true }) reply: FastifyReply) {
    void reply.header('x-cache-expire', '*/own/numbers');
    return { changed: true };
  }
}

describe.each(MOUNT_MODES)('ResponseCacheInterceptor on a host controller (%s)', (mode) => {
  let app: RunningGateway;
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
    @Module({ imports: [gatewayModule({ cache: { store: 'memory' }, routes: [{ prefix: '/api', target: upstream.url }] }, mode)], controllers: [OwnController] })
    class HostModule {}
    app = await startApp(HostModule);
  });
  afterAll(async () => {
    await app.close();
    await upstream.close();
  });

  it('stores what the handler marks with x-cache-timeout, in the gateway store, and serves it as a hit', async () => {
    const miss = await request(app.url).get('/own/numbers').expect(200).expect('x-cache', 'MISS');
    const hit = await request(app.url).get('/own/numbers').expect(200).expect('x-cache', 'HIT');
    expect(hit.body).toEqual(miss.body);
    expect(hit.headers['content-type']).toMatch(/^application\/json/);
    const text = await request(app.url).get('/own/text').expect(200).expect('x-cache', 'MISS');
    await request(app.url).get('/own/text').expect(200).expect('x-cache', 'HIT').expect(text.text);
  });

  it('stores a Buffer as bytes, and lets a failing handler fail without holding the next request', async () => {
    const parse = ((stream: NodeJS.ReadableStream, done: (error: Error | null, body: Buffer) => void) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => done(null, Buffer.concat(chunks)));
    }) as unknown as (res: request.Response, callback: (error: Error | null, body: unknown) => void) => void;
    const miss = await request(app.url).get('/own/bytes').buffer(true).parse(parse).expect(200).expect('x-cache', 'MISS');
    const hit = await request(app.url).get('/own/bytes').buffer(true).parse(parse).expect(200).expect('x-cache', 'HIT');
    expect(hit.headers['content-type']).toBe('application/octet-stream');
    expect(hit.body).toEqual(miss.body);
    await request(app.url).get('/own/broken').expect(500);
    await request(app.url).get('/own/broken').expect(500);
    // A value JSON cannot write fails the request, not the process; the next one is not held.
    await request(app.url).get('/own/unserialisable').expect(500);
    await request(app.url).get('/own/unserialisable').expect(500);
  });

  // The gateway defers `100 Continue` until a body is read; the host's own parsers read it.
  it("sends 100 Continue to an upload for the host app's own controller", async () => {
    const body = Buffer.from('{"a":1}');
    const head = `POST /own/numbers HTTP/1.1\r\nHost: host.test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;
    const res = await sendAfterContinue(Number(new URL(app.url).port), head, body);
    expect(res.sentBody).toBe(true);
    expect(res.text).toMatch(/\r\n\r\nHTTP\/1\.1 201 [^]*\{"changed":true\}$/);
  });

  it('passes a streamed answer (StreamableFile) uncached, as it was sent', async () => {
    const first = await request(app.url).get('/own/file').expect(200).expect('x-cache', 'MISS');
    const second = await request(app.url).get('/own/file').expect(200).expect('x-cache', 'MISS');
    expect([first.text, second.text]).toEqual([expect.stringMatching(/^file \d+$/), expect.stringMatching(/^file \d+$/)]);
    expect(second.text).not.toBe(first.text);
    expect(second.headers['x-cache-timeout']).toBeUndefined();
  });

  it('expires entries on x-cache-expire, and passes unmarked answers uncached', async () => {
    await request(app.url).get('/own/numbers').expect(200);
    await request(app.url).get('/own/numbers').expect('x-cache', 'HIT');
    await request(app.url).post('/own/numbers').expect(201);
    await request(app.url).get('/own/numbers').expect('x-cache', 'MISS');
    const first = await request(app.url).get('/own/fresh').expect(200).expect('x-cache', 'MISS');
    const second = await request(app.url).get('/own/fresh').expect(200).expect('x-cache', 'MISS');
    expect(second.body.serial).toBeGreaterThan(first.body.serial);
  });
});

@Injectable()
class ExplodingGuard implements CanActivate {
  canActivate(): boolean {
    throw new Error('guard exploded');
  }
}

/** Lets in only requests that say `x-let-in: yes`; refuses the others with 403. */
@Injectable()
class DoorGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.switchToHttp().getRequest<FastifyRequest>().headers['x-let-in'] === 'yes') return true;
    throw new ForbiddenException('refused by the host');
  }
}

/** Gives each request the deadline its client asks for in `x-deadline-ms`: 408 past it. */
@Injectable()
class DeadlineInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler) {
    const deadline = Number(context.switchToHttp().getRequest<FastifyRequest>().headers['x-deadline-ms'] ?? 10_000);
    return next.handle().pipe(
      timeout(deadline),
      catchError((error: unknown) => throwError(() => (error instanceof TimeoutError ? new RequestTimeoutException() : error))),
    );
  }
}

/** A cached handler that answers when the test lets it. */
@Controller('held')
@UseInterceptors(ResponseCacheInterceptor)
class HeldController {
  calls = 0;
  private readonly held: (() => void)[] = [];

  release(): void {
    for (const answer of this.held.splice(0)) answer();
  }

  @Get()
  async answer(@Res({ passthrough: true }) reply: FastifyReply) {
    this.calls += 1;
    await new Promise<void>((resolve) => this.held.push(resolve));
    void reply.header('x-cache-timeout', '1 minute');
    return { serial: this.calls };
  }
}

describe('ResponseCacheInterceptor behind a host interceptor that answers first', () => {
  let app: RunningGateway;

  beforeAll(async () => {
    @Module({
      // The gateway needs a route; this test asks only the host's own controller.
      imports: [gatewayModule({ cache: { store: 'memory' }, routes: [{ prefix: '/api', target: 'http://127.0.0.1:1' }] })],
      controllers: [HeldController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: DeadlineInterceptor }],
    })
    class HostModule {}
    app = await startApp(HostModule);
  });
  afterAll(async () => {
    await app.close();
  });

  // The hit a request waited for can land after the host answered it (here, its deadline passed):
  // the stored answer is not written over the sent one, and the process goes on.
  it('keeps the answer a waiting request got, and serves the fill it waited for to the next', async () => {
    const controller = app.app.get(HeldController);
    const first = request(app.url)
      .get('/held')
      .then((res) => res);
    await until(() => controller.calls === 1, 'the first request to reach the handler');
    const impatient = await request(app.url).get('/held').set('x-deadline-ms', '50');
    expect(impatient.status).toBe(408);
    controller.release();
    const filled = await first;
    expect(filled.status).toBe(200);
    expect(filled.headers['x-cache']).toBe('MISS');
    const hit = await request(app.url).get('/held').expect(200).expect('x-cache', 'HIT');
    expect(hit.body).toEqual(filled.body);
    expect(controller.calls).toBe(1);
  });
});

/** Counts the requests it sees complete. */
@Injectable()
class CountingInterceptor implements NestInterceptor {
  static seen = 0;
  intercept(_context: unknown, next: CallHandler) {
    return next.handle().pipe(tap({ complete: () => (CountingInterceptor.seen += 1) }));
  }
}

describe.each(MOUNT_MODES)("the host app's global guards and interceptors around gateway routes (%s)", (mode) => {
  let upstream: Upstream;
  const started: INestApplication[] = [];
  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => {
    await Promise.all(started.map((app) => app.close()));
    await upstream.close();
  });

  it('answers 500 when a guard throws, without reaching the service', async () => {
    @Module({ imports: [gatewayModule({ routes: [{ prefix: '/api', target: upstream.url }] }, mode)], providers: [{ provide: APP_GUARD, useClass: ExplodingGuard }] })
    class GuardedModule {}
    const app = await startApp(GuardedModule);
    started.push(app.app);
    const before = upstream.seen.length;
    const res = await request(app.url).get('/api/x').expect(500);
    expect(res.body).toEqual({ statusCode: 500, message: 'Internal server error' });
    expect(upstream.seen.length).toBe(before);
  });

  it('applies them to WebSocket upgrades: a refusing guard answers, and the service never sees the upgrade', async () => {
    const service = await startWebSocketService();
    try {
      @Module({ imports: [gatewayModule({ routes: [{ prefix: '/ws', target: service.url }] }, mode)], providers: [{ provide: APP_GUARD, useClass: DoorGuard }] })
      class GuardedSocketsModule {}
      const app = await startApp(GuardedSocketsModule);
      started.push(app.app);
      const refused = await openWebSocket(`${app.url}/ws/echo`);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.ws ? '' : refused.body)).toMatchObject({ statusCode: 403, message: 'refused by the host' });
      expect(service.upgrades()).toBe(0);
      const admitted = await openWebSocket(`${app.url}/ws/echo`, { 'x-let-in': 'yes' });
      expect(admitted.status).toBe(101);
      admitted.ws!.close();
      expect(service.upgrades()).toBe(1);
    } finally {
      await service.close();
    }
  });

  it('runs global interceptors around forwarded requests', async () => {
    @Module({ imports: [gatewayModule({ routes: [{ prefix: '/api', target: upstream.url }] }, mode)], providers: [{ provide: APP_INTERCEPTOR, useClass: CountingInterceptor }] })
    class InterceptedModule {}
    const app = await startApp(InterceptedModule);
    started.push(app.app);
    const before = CountingInterceptor.seen;
    await request(app.url).get('/api/x').expect(200);
    expect(CountingInterceptor.seen).toBe(before + 1);
  });
});

describe('middlewares that fail, and hooks that read big or broken responses', () => {
  const big = randomBytes(4 * 1024 * 1024);
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
        res.end(big);
        return;
      }
      // Promises a body it never finishes.
      res.writeHead(200, { 'content-length': 1000 });
      res.write('x'.repeat(10));
      setTimeout(() => res.destroy(), 20);
    });
    gateway = await startGateway({
      routes: [
        { prefix: '/refused', target: upstream.url, middlewares: [(_req, _res, next) => next(Object.assign(new Error('no such tenant'), { status: 404 }))] },
        { prefix: '/failing', target: upstream.url, middlewares: [(_req, _res, next) => next(new Error('database password is hunter2'))] },
        {
          prefix: '/throwing',
          target: upstream.url,
          middlewares: [
            () => {
              throw Object.assign(new Error('teapot'), { getStatus: () => 418, getResponse: () => ({ statusCode: 418, message: 'short and stout' }) });
            },
          ],
        },
        {
          prefix: '/half-answered',
          target: upstream.url,
          middlewares: [
            (_req, res, next) => {
              res.writeHead(200, { 'content-length': 100 });
              res.write('partial');
              next(new Error('changed its mind'));
            },
          ],
        },
        { prefix: '/hooked', target: upstream.url, hooks: { onResponse: (_req, reply, res) => reply.send(res) } },
        {
          prefix: '/late-reader',
          target: upstream.url,
          hooks: {
            // Reads nothing until a full buffer waits for it: the gateway has paused the service by then.
            async onResponse(_req, reply, res) {
              while (res.readableLength < res.readableHighWaterMark) await new Promise((resolve) => setTimeout(resolve, 5));
              reply.header('x-buffer-filled', String(res.readableLength)).send(res);
            },
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it("answers a middleware's next(err) with the error's status and message, never reaching the service", async () => {
    const before = upstream.seen.length;
    const refused = await request(gateway.url).get('/refused/x').expect(404);
    expect(refused.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'no such tenant' });
    const failed = await request(gateway.url).get('/failing/x').expect(500);
    // The error's own text stays in the gateway.
    expect(failed.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' });
    const thrown = await request(gateway.url).get('/throwing/x').expect(418);
    expect(thrown.body).toEqual({ statusCode: 418, message: 'short and stout' });
    expect(upstream.seen.length).toBe(before);
  });

  it('cuts the connection when a middleware fails after it began to answer', async () => {
    await expect(request(gateway.url).get('/half-answered/x')).rejects.toThrow();
  });

  it('streams a 4 MiB response through an onResponse hook byte for byte', async () => {
    const res = await request(gateway.url).get('/hooked/big').buffer(true).parse((stream, done) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect(sha256(res.body as Buffer)).toBe(sha256(big));
  });

  it('pauses the service while an onResponse hook has a full buffer unread, and resumes it as the hook reads', async () => {
    const res = await request(gateway.url).get('/late-reader/big').buffer(true).parse((stream, done) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect(Number(res.headers['x-buffer-filled'])).toBeLessThan(big.length);
    expect(sha256(res.body as Buffer)).toBe(sha256(big));
  });

  it('cuts the client when the service dies mid-body behind an onResponse hook', async () => {
    await expect(request(gateway.url).get('/hooked/broken')).rejects.toThrow();
    await request(gateway.url).get('/hooked/big').expect(200);
  });
});
