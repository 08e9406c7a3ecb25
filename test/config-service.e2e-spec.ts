import { Controller, Get, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import request from 'supertest';
import { GatewayModule } from '../src/index.js';
import { startApp, type RunningGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';

@Controller('own')
class OwnController {
  @Get('health')
  health() {
    return { ok: true };
  }
}

describe('an existing Nest app importing GatewayModule.forRootAsync with ConfigService', () => {
  let upstream: Upstream;
  let app: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    @Module({
      imports: [
        ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ USERS_SERVICE_URL: upstream.url })] }),
        GatewayModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            routes: [{ prefix: '/users', target: config.getOrThrow<string>('USERS_SERVICE_URL') }],
          }),
        }),
      ],
      controllers: [OwnController],
    })
    class ExistingAppModule {}
    app = await startApp(ExistingAppModule);
  });
  afterAll(async () => {
    await app.close();
    await upstream.close();
  });

  it('routes to the target read from ConfigService', async () => {
    const res = await request(app.url).get('/users/42?full=1').expect(200);
    expect(res.body).toMatchObject({ url: '/42?full=1' });
  });

  it("keeps the app's own routes and their JSON body parsing", async () => {
    await request(app.url).get('/own/health').expect(200, { ok: true });
    const res = await request(app.url).post('/users/echo').send({ nested: { a: 1 } }).expect(200);
    expect(JSON.parse(res.body.body)).toEqual({ nested: { a: 1 } });
  });
});

describe('forRootAsync with invalid options', () => {
  it('fails the app start with the field path', async () => {
    await expect(
      startApp(GatewayModule.forRootAsync({ useFactory: () => ({ routes: [{ prefix: '/x', target: 'nope' }] }) })),
    ).rejects.toThrow(/routes\[0\]\.target: expected an http/);
  });
});

describe('GatewayModule without an HTTP server', () => {
  it('refuses to start outside a fastify application', async () => {
    const context = NestFactory.createApplicationContext(
      GatewayModule.forRoot({ routes: [{ prefix: '/x', target: 'http://127.0.0.1:1' }] }),
      { logger: false, abortOnError: false },
    );
    await expect(context).rejects.toThrow(/needs the fastify adapter/);
  });
});
