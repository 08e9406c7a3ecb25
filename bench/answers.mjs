// What the bench's service answers, shared with the row that replays its cacheable answer from memory.
export const hello = JSON.stringify({ hello: 'world', service: 'bench-upstream', padding: 'x'.repeat(48) });
export const json = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(hello) };
export const cachedHead = { ...json, 'x-cache-timeout': '1 minute' };
/** Fresh for a second, then served stale for an hour while refreshed. */
export const staleHead = { ...json, 'x-cache-timeout': '1', 'x-cache-stale': '1 hour' };
