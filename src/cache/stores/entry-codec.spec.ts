import { createCacheEntry } from '../cache-entry.js';
import { decodeEntry, encodeEntry } from './entry-codec.js';

const lifetime = { ttl: 60_000, staleWhileRevalidate: 5_000, staleIfError: 600_000 };

/** A head decodeEntry takes, to damage one field at a time. */
const writableHead = { status: 200, headers: { 'content-type': 'text/plain' }, etag: '"x"', storedAt: 1, age: 0, ttl: 1, staleWhileRevalidate: 0, staleIfError: 0 };

describe('entry codec', () => {
  it('round-trips an entry, its binary body byte for byte', () => {
    const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const entry = createCacheEntry(203, { 'content-type': 'application/octet-stream', 'x-list': ['a', 'b'], age: '30' }, body, { ...lifetime, tags: ['user:42', 'users'] });
    expect(entry).toMatchObject({ age: 30, tags: ['user:42', 'users'], ttl: 60_000, staleIfError: 600_000 });
    const decoded = decodeEntry(encodeEntry(entry))!;
    expect(decoded).toEqual({ ...entry, vary: undefined });
    expect(decoded.body.equals(body)).toBe(true);
  });

  // JSON drops undefined: an entry varying on a header its request lacked once lost that header,
  // and answered requests carrying any value of it.
  it('keeps a varied-on header the request lacked', () => {
    const entry = createCacheEntry(200, {}, Buffer.from('x'), { ...lifetime, vary: { 'accept-language': undefined, accept: 'text/html' } });
    const { vary } = decodeEntry(encodeEntry(entry))!;
    expect(vary).toEqual({ 'accept-language': undefined, accept: 'text/html' });
    expect(Object.keys(vary!)).toEqual(['accept-language', 'accept']);
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['another layout', Buffer.from('{"value":{"status":200}}')],
    ['a head longer than the string', Buffer.from([2, 0, 0, 1, 0, 0x7b])],
    ['a head that is not JSON', Buffer.concat([Buffer.from([2, 0, 0, 0, 3]), Buffer.from('{ x')])],
    ['a head without a status', Buffer.concat([Buffer.from([2, 0, 0, 0, 2]), Buffer.from('{}')])],
    ['a null head', Buffer.concat([Buffer.from([2, 0, 0, 0, 4]), Buffer.from('null')])],
    ['a head without its lifetime (the layout before stale entries)', headOf({ status: 200, headers: {}, etag: '"x"', storedAt: 1 })],
    ['tags that are no list', headOf({ status: 200, headers: {}, etag: '"x"', storedAt: 1, age: 0, ttl: 1, staleWhileRevalidate: 0, staleIfError: 0, tags: 'a' })],
    ['the layout before stale entries', Buffer.concat([Buffer.from([1, 0, 0, 0, 2]), Buffer.from('{}')])],
    ['a status Node cannot write', headOf({ ...writableHead, status: 1000 })],
    ['a header value with a line break', headOf({ ...writableHead, headers: { 'x-note': 'a\r\nset-cookie: session=stolen' } })],
    ['a header value in a list with a line break', headOf({ ...writableHead, headers: { 'x-list': ['a', 'b\nc'] } })],
    ['a header name with a space', headOf({ ...writableHead, headers: { 'x bad': '1' } })],
    ['an etag with a line break', headOf({ ...writableHead, etag: '"x"\n' })],
  ])('reads %s as no entry', (_name, stored) => {
    expect(decodeEntry(stored)).toBeUndefined();
  });

  it('reads the head those cases damage as an entry', () => {
    expect(decodeEntry(headOf(writableHead))).toMatchObject({ status: 200, etag: '"x"' });
  });
});

function headOf(head: object): Buffer {
  const json = Buffer.from(JSON.stringify(head));
  const prefix = Buffer.from([2, 0, 0, 0, 0]);
  prefix.writeUInt32BE(json.length, 1);
  return Buffer.concat([prefix, json]);
}
