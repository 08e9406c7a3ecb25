import { grpcRouteIssues, readUpstreamTls, requireHttp2ForGrpc, routeTargetUrls } from './route-protocols.js';

describe('routeTargetUrls', () => {
  it('lists target, or targets given as URLs or weighted', () => {
    expect(routeTargetUrls({ target: 'http://a' })).toEqual(['http://a']);
    expect(routeTargetUrls({ targets: ['http://a', { url: 'http://b', weight: 2 }] })).toEqual(['http://a', 'http://b']);
    expect(routeTargetUrls({})).toEqual([]);
  });
});

describe('grpcRouteIssues', () => {
  it('has nothing to say of an http route', () => {
    expect(grpcRouteIssues({ target: 'http://a', retries: 2 })).toEqual([]);
  });

  it('refuses retries given in detail, and takes zero of them', () => {
    expect(grpcRouteIssues({ protocol: 'grpc', target: 'http://a', retries: { attempts: 1 } })).toEqual([{ path: ['retries'], message: 'gRPC calls are never retried (a stream cannot be sent again)' }]);
    expect(grpcRouteIssues({ protocol: 'grpc', target: 'http://a', retries: 0 })).toEqual([]);
  });
});

describe('requireHttp2ForGrpc', () => {
  const issues: unknown[] = [];
  const context = { addIssue: (issue: unknown) => issues.push(issue) } as unknown as Parameters<typeof requireHttp2ForGrpc>[1];

  it('takes gRPC routes with server.http2, and http routes without', () => {
    requireHttp2ForGrpc({ routes: [{ protocol: 'grpc' }], server: { http2: true } }, context);
    requireHttp2ForGrpc({ routes: [{}, { protocol: 'http' }] }, context);
    expect(issues).toEqual([]);
  });
});

describe('readUpstreamTls', () => {
  it('names the field, the file and the error code', () => {
    const { issues } = readUpstreamTls({ ca: 'a\0b' }, 'routes[2].tls');
    expect(issues).toEqual(['routes[2].tls.ca: cannot read a\0b (ERR_INVALID_ARG_VALUE)']);
  });
});
