// The gRPC gateway row: dist/ in library mode on an h2c listener (FastifyAdapter `http2: true`),
// one `protocol: grpc` route to TARGET. Library mode until the standalone server's own HTTP/2
// listener (`server.http2`) is in; then this row can run dist/main.js like the others.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { pino } from 'pino';
import { GatewayModule } from '../dist/index.js';

const routes = [{ prefix: '/bench.Echo', target: process.env.TARGET, protocol: 'grpc' }];

class GrpcBenchModule {}
Module({ imports: [GatewayModule.forRoot({ routes, accessLog: false, logger: pino({ level: 'warn' }) })] })(GrpcBenchModule);

const app = await NestFactory.create(GrpcBenchModule, new FastifyAdapter({ http2: true }), { logger: ['warn', 'error'] });
await app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
