import type { IncomingMessage } from 'node:http';
import { type JWTPayload, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import type { ResolvedJwtAuth } from '../config/resolve-options.js';
import { IssuerKeys, KeySetUnavailable } from './issuer-keys.js';

/** Verified tokens kept, by the bytes of the tokens themselves: a bound on the memory they take. */
const VERIFIED_TOKENS_BYTES = 8 * 1024 * 1024;
/** Longer `Authorization` values are refused unread: no IdP issues tokens that large. */
const LONGEST_TOKEN = 8 * 1024;
/** Three base64url parts: anything else is refused before jose is asked. */
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;
const BEARER = /^Bearer +/i;

/** Why a request is refused: no token (401), a bad one (401, `invalid_token`), or no keys to check it with (503). */
export type AuthRefusal = { status: 401; reason: 'missing' | 'invalid'; detail: string } | { status: 503; detail: string };

/** Verified claims, or why there are none. */
export type AuthOutcome = { claims: JWTPayload } | { refusal: AuthRefusal };

/** What a client may read of why its token failed (RFC 6750's `error_description`), by jose's code. */
const DESCRIPTIONS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'token expired',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'claim check failed',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'signature invalid',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm not allowed',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown signing key',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'ambiguous signing key',
};

/**
 * A route's bearer-token check: jose verifies the signature against the issuer's key set (see
 * `IssuerKeys`), the algorithm, `exp`/`nbf` within the tolerance, `iss` and `aud`. A token that passed is kept
 * (bounded) until it expires, or for the key set's `maxAge` at most, so a client repeating its
 * token costs one lookup, not a signature check.
 */
export class JwtAuthenticator {
  private readonly keys: IssuerKeys;
  private readonly verified = new LRUCache<string, JWTPayload>({
    maxSize: VERIFIED_TOKENS_BYTES,
    sizeCalculation: (_claims, token) => token.length,
  });

  constructor(private readonly settings: ResolvedJwtAuth) {
    this.keys = new IssuerKeys(settings.jwks);
  }

  /** Fetches the key set ahead of the first request; a failure is the first request's to meet. */
  warmUp(): Promise<void> {
    return this.keys.refresh();
  }

  authenticate(req: IncomingMessage): AuthOutcome | Promise<AuthOutcome> {
    const authorization = req.headers.authorization;
    if (authorization === undefined || !BEARER.test(authorization)) {
      return { refusal: { status: 401, reason: 'missing', detail: 'a bearer token is required' } };
    }
    const token = authorization.replace(BEARER, '').trim();
    const known = this.verified.get(token);
    if (known) return { claims: known };
    if (token.length > LONGEST_TOKEN || !COMPACT_JWS.test(token)) {
      return { refusal: { status: 401, reason: 'invalid', detail: 'malformed token' } };
    }
    return this.verify(token);
  }

  private async verify(token: string): Promise<AuthOutcome> {
    const { issuer, audience, algorithms, clockTolerance, jwks } = this.settings;
    try {
      const { payload } = await jwtVerify(token, this.keys.getKey, { issuer, audience, algorithms, clockTolerance: clockTolerance / 1000 });
      const untilExpiry = payload.exp === undefined ? Infinity : payload.exp * 1000 + clockTolerance - Date.now();
      const ttl = Math.floor(Math.min(untilExpiry, jwks.maxAge));
      if (ttl > 0) this.verified.set(token, payload, { ttl });
      return { claims: payload };
    } catch (error) {
      if (error instanceof KeySetUnavailable) return { refusal: { status: 503, detail: 'the signing keys cannot be fetched' } };
      const code = (error as { code?: string }).code;
      return { refusal: { status: 401, reason: 'invalid', detail: DESCRIPTIONS[code ?? ''] ?? 'malformed token' } };
    }
  }
}
