import { GrpcForwarder, parseGrpcTimeout } from './grpc-forwarder.js';

describe('parseGrpcTimeout', () => {
  it('reads each unit of the gRPC over HTTP/2 spec into milliseconds', () => {
    expect(parseGrpcTimeout('2H')).toBe(7_200_000);
    expect(parseGrpcTimeout('3M')).toBe(180_000);
    expect(parseGrpcTimeout('5S')).toBe(5000);
    expect(parseGrpcTimeout('250m')).toBe(250);
    expect(parseGrpcTimeout('1500u')).toBeCloseTo(1.5);
    expect(parseGrpcTimeout('2000000n')).toBeCloseTo(2);
  });

  it('takes a malformed or absent value for no deadline of the client', () => {
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
    expect(parseGrpcTimeout('123456789S')).toBeUndefined();
    expect(parseGrpcTimeout('5s')).toBeUndefined();
    expect(parseGrpcTimeout('-1S')).toBeUndefined();
  });
});

describe('GrpcForwarder', () => {
  it('takes no WebSocket upgrade', async () => {
    const forwarder = new GrpcForwarder({
      target: new URL('http://127.0.0.1:1/base/'),
      rewriteUrl: (url) => url,
      bodyLimit: 0,
      timeout: 1000,
      maxConnections: 1,
      requestBodyTimeout: 1000,
      keepAliveTimeout: 1000,
      dropHeaders: new Set(),
      dropResponseHeaders: new Set(),
      protocol: 'grpc',
    });
    expect(forwarder.upgradeDestination()).toBeUndefined();
    expect(forwarder.href).toBe('http://127.0.0.1:1/base/');
    await forwarder.close();
  });
});
