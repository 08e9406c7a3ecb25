import type { IncomingMessage } from 'node:http';
import { GatewayTracer } from './gateway-tracer.js';
import { resolveTracingSettings } from './tracing-settings.js';

describe("the tracer's sampling of the traces it starts", () => {
  const request = { headers: { host: 'gw.test' }, method: 'GET', url: '/api/x', httpVersion: '1.1' } as unknown as IncomingMessage;
  const target = new URL('http://svc.internal/x');
  const sampledOf = (sampleRatio: number, requests: number) => {
    const tracer = new GatewayTracer(resolveTracingSettings({ otlpUrl: 'http://127.0.0.1:9/v1/traces', sampleRatio }, {}), () => undefined);
    const flags = Array.from({ length: requests }, () => tracer.request(request, '/api/*', 'http', 'gw.test', '10.0.0.1').attempt(target, 1).headers[1].slice(-2));
    void tracer.shutdown();
    return flags.filter((flag) => flag === '01').length;
  };

  it('samples every trace at 1 and none at 0', () => {
    expect(sampledOf(1, 50)).toBe(50);
    expect(sampledOf(0, 50)).toBe(0);
  });

  it('samples about its ratio in between, decided on the trace id', () => {
    // 400 draws at 0.5: outside 120-280 has a probability under 1e-19.
    const sampled = sampledOf(0.5, 400);
    expect(sampled).toBeGreaterThan(120);
    expect(sampled).toBeLessThan(280);
  });
});
