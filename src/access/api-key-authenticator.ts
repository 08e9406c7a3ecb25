import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Longer values are refused unread. */
const LONGEST_KEY = 4096;

const digest = (key: string) => createHash('sha256').update(key).digest('base64url');

/**
 * A route's API keys. A presented key is looked up by its SHA-256 digest, never compared with
 * the keys themselves, so how long the lookup takes says nothing about how much of a key was
 * right.
 */
export class ApiKeyAuthenticator {
  private readonly digests = new Set<string>();

  constructor(
    readonly header: string,
    keys: Record<string, string>,
  ) {
    for (const key of Object.values(keys)) this.digests.add(digest(key));
  }

  /** Whether the request carries one of the keys. */
  admits(req: IncomingMessage): boolean {
    const presented = req.headers[this.header];
    if (typeof presented !== 'string' || presented.length === 0 || presented.length > LONGEST_KEY) return false;
    return this.digests.has(digest(presented));
  }
}
