import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/** Why no key could be had: the issuer's set is out of reach (503), not the token's fault. */
export class KeySetUnavailable extends Error {}

export interface IssuerKeySettings {
  url: string;
  /** Least time between two fetches, whatever became of the last. */
  cooldown: number;
  /** How long a fetched set is used before it is fetched again. */
  maxAge: number;
  timeout: number;
}

/**
 * An issuer's published keys (JWKS), fetched and kept by the gateway; jose picks and imports the
 * key a token names from the set held. jose's own remote set starts its cooldown only after a
 * fetch that worked and drops its keys once they are `maxAge` old: an issuer that fails would be
 * asked again on every request, and its tokens refused (503) ten minutes into the outage. Here
 * at most one fetch starts per `cooldown`, whatever became of the last; a set past its `maxAge`
 * is kept while the issuer cannot give a new one; a key id not in the set refetches it (within
 * the cooldown), so a key the issuer rotates in is taken without a restart.
 */
export class IssuerKeys {
  private keys?: ReturnType<typeof createLocalJWKSet>;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private fetching?: Promise<void>;
  /** The last fetch's failure, while no set is held. */
  private failure?: Error;

  constructor(private readonly settings: IssuerKeySettings) {}

  /** jose's key lookup, over the set held. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.keys || Date.now() - this.fetchedAt > this.settings.maxAge) await this.refresh();
    if (!this.keys) throw new KeySetUnavailable(this.failure?.message ?? 'no key set');
    try {
      return await this.keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      await this.refresh();
      return await this.keys(header, token);
    }
  };

  /** Fetches the set unless one fetch is under way or the last started within the cooldown. */
  refresh(): Promise<void> {
    if (this.fetching) return this.fetching;
    if (Date.now() - this.attemptedAt < this.settings.cooldown) return Promise.resolve();
    this.attemptedAt = Date.now();
    this.fetching = this.fetch().finally(() => (this.fetching = undefined));
    return this.fetching;
  }

  private async fetch(): Promise<void> {
    try {
      const response = await fetch(this.settings.url, {
        headers: { accept: 'application/json, application/jwk-set+json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(this.settings.timeout),
      });
      if (response.status !== 200) throw new Error(`the key set answered ${response.status}`);
      // `createLocalJWKSet` refuses what is no key set.
      this.keys = createLocalJWKSet((await response.json()) as JSONWebKeySet);
      this.fetchedAt = Date.now();
      this.failure = undefined;
    } catch (error) {
      this.failure = error as Error;
    }
  }
}
