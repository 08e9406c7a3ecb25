import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ResolvedCacheOptions } from '../config/resolve-options.js';
import { GATEWAY_CACHE_OPTIONS, HTTP_METHODS } from '../gateway.constants.js';
import { isTag, MAX_TAG_LENGTH, MAX_TAGS, ResponseCacheService } from '../cache/index.js';

/** A purge request's body is a few lists: anything longer is no purge. */
const BODY_LIMIT_BYTES = 64 * 1024;
const MAX_PATTERNS = 64;
const MAX_PATTERN_LENGTH = 1024;

const purgeBody = z
  .strictObject({
    tags: z.array(z.string().refine(isTag, `expected a tag: printable characters, no spaces or commas, at most ${MAX_TAG_LENGTH}`)).max(MAX_TAGS).optional(),
    patterns: z.array(z.string().min(1).max(MAX_PATTERN_LENGTH)).max(MAX_PATTERNS).optional(),
  })
  .refine((body) => (body.tags?.length ?? 0) + (body.patterns?.length ?? 0) > 0, 'expected "tags" and/or "patterns", not both empty');

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * `POST <cache.purge.path>`, the gateway's own (never forwarded): with the operator's bearer
 * token, deletes the entries carrying any of `tags` and those whose keys match any of
 * `patterns` (the rules of `x-cache-expire`), and answers how many this process's store held.
 * The token is checked before the body is read, compared as digests in constant time, and taken
 * from `Authorization: Bearer` only: a token in a URL ends up in logs.
 */
@Injectable()
export class PurgeEndpoint implements OnModuleInit {
  private readonly logger = new Logger('CachePurge');

  constructor(
    @Inject(GATEWAY_CACHE_OPTIONS) private readonly options: ResolvedCacheOptions,
    private readonly cache: ResponseCacheService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const { purge } = this.options;
    if (!purge) return;
    const expected = digest(purge.token);
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.route({
      method: [...HTTP_METHODS],
      url: purge.path,
      exposeHeadRoute: false,
      bodyLimit: BODY_LIMIT_BYTES,
      onRequest: async (request, reply) => {
        if (request.method !== 'POST') return reply.code(405).header('allow', 'POST').send(answer(405, 'Method Not Allowed', 'a purge is a POST'));
        if (!carriesToken(request, expected)) {
          return reply.code(401).header('www-authenticate', 'Bearer realm="nest-gateway"').send(answer(401, 'Unauthorized', 'a purge needs the bearer token'));
        }
      },
      handler: (request, reply) => this.purge(request, reply),
    });
  }

  private async purge(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const parsed = purgeBody.safeParse(request.body);
    if (!parsed.success) {
      const message = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
      return reply.code(400).send(answer(400, 'Bad Request', message));
    }
    const { tags, patterns } = parsed.data;
    const [byTags, byPatterns] = await Promise.all([tags ? this.cache.purgeTags(tags) : 0, patterns ? this.cache.expire(patterns) : 0]);
    // A purge the store never confirmed is not reported as done: the operator tries again.
    if (byTags === undefined || byPatterns === undefined) {
      return reply.code(503).header('retry-after', '1').send(answer(503, 'Service Unavailable', 'the cache store did not confirm the purge'));
    }
    const purged = byTags + byPatterns;
    this.logger.log(`purged ${purged} entries (tags: ${tags?.join(' ') ?? '-'}; patterns: ${patterns?.join(' ') ?? '-'})`);
    return reply.send({ purged });
  }
}

function carriesToken(request: FastifyRequest, expected: Buffer): boolean {
  const authorization = request.headers.authorization;
  const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
  return match !== null && timingSafeEqual(digest(match[1]), expected);
}

const answer = (statusCode: number, error: string, message: string) => ({ statusCode, error, message });
