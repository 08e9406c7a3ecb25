import { createCacheEntry } from '../cache-entry.js';
import { decodeEntry, encodeEntry } from './entry-codec.js';

describe('entry codec', () => {
  it('round-trips an entry, its binary body byte for byte', () => {
    const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const entry = createCacheEntry(203, { 'content-type': 'application/octet-stream', 'x-list': ['a', 'b'] }, body, undefined);
    const decoded = decodeEntry(encodeEntry(entry))!;
    expect(decoded).toEqual({ ...entry, vary: undefined });
    expect(decoded.body.equals(body)).toBe(true);
  });

  // JSON drops undefined: an entry varying on a header its request lacked once lost that header,
  // and answered requests carrying any value of it.
  it('keeps a varied-on header the request lacked', () => {
    const entry = createCacheEntry(200, {}, Buffer.from('x'), { 'accept-language': undefined, accept: 'text/html' });
    const { vary } = decodeEntry(encodeEntry(entry))!;
    expect(vary).toEqual({ 'accept-language': undefined, accept: 'text/html' });
    expect(Object.keys(vary!)).toEqual(['accept-language', 'accept']);
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['another layout', Buffer.from('{"value":{"status":200}}')],
    ['a head longer than the string', Buffer.from([1, 0, 0, 1, 0, 0x7b])],
    ['a head that is not JSON', Buffer.concat([Buffer.from([1, 0, 0, 0, 3]), Buffer.from('{ x')])],
    ['a head without a status', Buffer.concat([Buffer.from([1, 0, 0, 0, 2]), Buffer.from('{}')])],
    ['a null head', Buffer.concat([Buffer.from([1, 0, 0, 0, 4]), Buffer.from('null')])],
  ])('reads %s as no entry', (_name, stored) => {
    expect(decodeEntry(stored)).toBeUndefined();
  });
});
