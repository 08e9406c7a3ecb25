import { stripHopByHopHeaders } from './forwarded-headers.js';

describe('stripHopByHopHeaders', () => {
  it('removes hop-by-hop headers and those the Connection header names', () => {
    const headers = {
      connection: 'keep-alive, X-Custom-Hop',
      'keep-alive': 'timeout=5',
      'x-custom-hop': '1',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      host: 'example',
      'content-type': 'text/plain',
    };
    stripHopByHopHeaders(headers);
    expect(headers).toEqual({ host: 'example', 'content-type': 'text/plain' });
  });
});
