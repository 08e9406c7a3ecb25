import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Record<string, unknown>;
}

export interface Issuer {
  /** Where the key set is published. */
  jwksUrl: string;
  /** The key set's fetches so far. */
  fetches: number;
  /** While false, the key set answers 503. */
  available: boolean;
  /** Keys published now; `rotate()` adds one. */
  keys: SigningKey[];
  /** A new key, published from now on. */
  rotate(): SigningKey;
  /** A compact JWS of `claims`, signed with `key` (the first by default) under `kid`. */
  token(claims: Record<string, unknown>, options?: { key?: SigningKey; kid?: string; alg?: string }): string;
  close(): Promise<void>;
}

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function newKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}

/** A token with any header, signed with HMAC over `secret`: what an attacker could mint. */
export function hmacToken(claims: Record<string, unknown>, secret: string, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const input = `${base64url(header)}.${base64url(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** An identity provider on 127.0.0.1 publishing RSA keys (made here with node:crypto) as a JWKS. */
export async function startIssuer(): Promise<Issuer> {
  let counter = 0;
  const issuer = { fetches: 0, available: true, keys: [newKey(`key-${counter++}`)] } as Issuer;
  const server: Server = createServer((req, res) => {
    issuer.fetches += 1;
    if (!issuer.available) {
      res.writeHead(503, { 'content-length': '0' });
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: issuer.keys.map((key) => key.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  issuer.jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
  issuer.rotate = () => {
    const key = newKey(`key-${counter++}`);
    issuer.keys.push(key);
    return key;
  };
  issuer.token = (claims, options = {}) => {
    const key = options.key ?? issuer.keys[0];
    const input = `${base64url({ alg: options.alg ?? 'RS256', typ: 'JWT', kid: options.kid ?? key.kid })}.${base64url({ iat: now(), ...claims })}`;
    return `${input}.${sign('RSA-SHA256', Buffer.from(input), key.privateKey).toString('base64url')}`;
  };
  issuer.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return issuer;
}

export const inSeconds = (seconds: number) => now() + seconds;
