// The bench's report: the markdown tables, each system's setup, and the targets the gateway is
// held to, all from the medians of one run. Pure, so that it can be checked on made-up figures. A
// run of some kinds only (ONLY=ws) reports the rows and targets those kinds give.
export const TARGETS = { hello: 1.4, helloLogged: 1.25, big: 1.4, hitVsPeer: 3, hitVsDirect: 0.6, vsUndici: 0.75, rssMiB: 120, threeTargets: 0.9, wsVsNginx: 0.8, loggedVsOff: 0.9, rateLimitMemory: 0.9, rateLimitRedis: 0.6, jwt: 0.9, staleVsHit: 0.9, tracing: 0.85, tlsVsPlain: 0.85, http2VsTls: 1 };

/**
 * `systems`: { key, label, setup, wsSetup?, ours? }[]; `results[key][kind]` for kind hello, big,
 * hit (req/s, MB/s) and ws (`rps`: echoed messages a second): { rps, mbps, p99, socketErrors,
 * non2xx }; `peakRss[key]` in MiB.
 */
export function report(systems, results, peakRss) {
  const peer = results['fast-gateway'];
  const ratio = (value, reference) => (value && reference ? `${(value / reference).toFixed(2)}×` : '');
  const cell = (value, digits = 0) => (value === undefined ? '' : value.toFixed(digits));
  const http = systems.filter((system) => ['hello', 'big', 'hit'].some((kind) => results[system.key][kind]));
  const table = http.length === 0 ? [] : [
    '| system | /hello req/s | × fast-gateway | 64 KiB MB/s | × fast-gateway | cache hit req/s | p99 ms | errors/non-2xx |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const system of http) {
    const { hello, big, hit } = results[system.key];
    const all = [hello, big, hit].filter(Boolean);
    const errors = all.reduce((sum, r) => sum + r.socketErrors, 0);
    const non2xx = all.reduce((sum, r) => sum + r.non2xx, 0);
    table.push(
      `| ${system.label} | ${cell(hello?.rps)} | ${ratio(hello?.rps, peer?.hello?.rps)} | ${cell(big?.mbps, 1)} | ${ratio(big?.mbps, peer?.big?.mbps)} | ${cell(hit?.rps)} | ${cell((hello ?? hit)?.p99, 2)} | ${errors}/${non2xx} |`,
    );
  }
  if (http.length) table.push('', 'p99: of /hello; on the cache-hit rows, of the hit. errors: wrk socket errors (connect, read, write, timeout), summed over the rounds.');
  for (const system of http) table.push(`- ${system.label}: ${system.setup}${peakRss[system.key] ? `; peak RSS ${peakRss[system.key].toFixed(1)} MiB` : ''}`);

  const webSocket = systems.filter((system) => results[system.key].ws);
  const nginxWs = results.nginx?.ws;
  if (webSocket.length) {
    table.push(...(http.length ? [''] : []), '| WebSocket echo | messages/s | × nginx | p50 ms | p99 ms | errors |', '|---|--:|--:|--:|--:|--:|');
    for (const system of webSocket) {
      const { ws } = results[system.key];
      table.push(`| ${system.label} | ${cell(ws.rps)} | ${ratio(ws.rps, nginxWs?.rps)} | ${cell(ws.p50, 2)} | ${cell(ws.p99, 2)} | ${ws.socketErrors} |`);
    }
    table.push('', 'Closed loop over WS_CONNECTIONS (64) connections (bench/ws-load.mjs on core 1): each sends a 128-byte text message, waits for its echo and sends the next; p50/p99 of the round trip. errors: connections that failed to open or closed early, summed over the rounds.');
    for (const system of webSocket) table.push(`- ${system.label}: ${system.wsSetup}`);
  }

  const secure = systems.filter((system) => results[system.key].tls || results[system.key].h2);
  const plainHello = results.gateway?.hello;
  if (secure.length) {
    table.push('', '| TLS, /hello | req/s | × gateway over plain HTTP | p50 ms | p99 ms | errors/non-2xx |', '|---|--:|--:|--:|--:|--:|');
    for (const system of secure) {
      for (const [kind, protocol] of [['tls', 'HTTPS/1.1'], ['h2', 'HTTP/2']]) {
        const row = results[system.key][kind];
        if (row) table.push(`| ${system.label}: ${protocol} | ${cell(row.rps)} | ${ratio(row.rps, plainHello?.rps)} | ${cell(row.p50, 2)} | ${cell(row.p99, 2)} | ${row.socketErrors}/${row.non2xx} |`);
      }
    }
    table.push('', 'HTTPS/1.1: wrk -t1 -cCONNECTIONS over TLS with keep-alive. HTTP/2: h2load (nghttp2-client) with as many requests in flight, H2_CONNECTIONS connections × the streams that makes, TLS with ALPN h2; p50/p99 from its per-request log. Both on core 1; the service behind is the same HTTP/1.1 one.');
    for (const system of secure) table.push(`- ${system.label}: ${system.setup}${peakRss[system.key] ? `; peak RSS ${peakRss[system.key].toFixed(1)} MiB` : ''}`);
  }

  const grpc = systems.filter((system) => results[system.key].grpc);
  const directGrpc = results['direct-grpc']?.grpc;
  if (grpc.length) {
    table.push('', '| gRPC unary | calls/s | × direct | p50 ms | p99 ms | failed calls |', '|---|--:|--:|--:|--:|--:|');
    for (const system of grpc) {
      const { grpc: row } = results[system.key];
      table.push(`| ${system.label} | ${cell(row.rps)} | ${ratio(row.rps, directGrpc?.rps)} | ${cell(row.p50, 2)} | ${cell(row.p99, 2)} | ${row.non2xx} |`);
    }
    table.push('', 'Closed loop of CONNECTIONS concurrent unary calls over one HTTP/2 connection (bench/grpc-load.mjs on core 1, node:http2): a 100-byte message each, echoed; p50/p99 of the call. failed calls: any status other than 0, summed over the rounds.');
    for (const system of grpc) table.push(`- ${system.label}: ${system.setup}`);
  }

  const ours = results.gateway ?? {};
  const logged = results['gateway-access-log'];
  const cached = results['gateway-cache']?.hit;
  const peerCached = results['fast-gateway-cache']?.hit;
  const direct = results.direct?.hit;
  const ceiling = results['hit-ceiling']?.hit;
  const undici = results['floor-undici']?.hello;
  const single = systems.filter((system) => system.ours);
  const oursRss = Math.max(...single.map((system) => peakRss[system.key] ?? 0));
  const x = (a, b) => `${(a / b).toFixed(2)}×`;
  const rps = (a, b, unit = 'req/s') => `${x(a, b)} (${a.toFixed(0)} vs ${b.toFixed(0)} ${unit})`;
  const erring = systems.filter((system) => Object.values(results[system.key]).some((r) => r.socketErrors || r.non2xx)).map((system) => system.label);
  // Each target whose figures this run has.
  const when = (measured, target) => (measured ? [target()] : []);
  const targets = [
    ...when(ours.hello && peer?.hello, () => ({ target: `/hello ≥ ${TARGETS.hello}× fast-gateway req/s`, pass: ours.hello.rps >= TARGETS.hello * peer.hello.rps, figures: rps(ours.hello.rps, peer.hello.rps) })),
    ...when(ours.hello && peer?.hello, () => ({ target: "/hello p99 ≤ fast-gateway's", pass: ours.hello.p99 <= peer.hello.p99, figures: `${ours.hello.p99.toFixed(2)} vs ${peer.hello.p99.toFixed(2)} ms` })),
    ...when(logged?.hello && peer?.hello, () => ({ target: `access log on: /hello ≥ ${TARGETS.helloLogged}× fast-gateway req/s`, pass: logged.hello.rps >= TARGETS.helloLogged * peer.hello.rps, figures: rps(logged.hello.rps, peer.hello.rps) })),
    ...when(logged?.hello && ours.hello, () => ({ target: `access log on: /hello ≥ ${TARGETS.loggedVsOff}× the same gateway with it off`, pass: logged.hello.rps >= TARGETS.loggedVsOff * ours.hello.rps, figures: rps(logged.hello.rps, ours.hello.rps, 'req/s, log off') })),
    ...when(ours.big && peer?.big, () => ({ target: `64 KiB ≥ ${TARGETS.big}× fast-gateway MB/s`, pass: ours.big.mbps >= TARGETS.big * peer.big.mbps, figures: `${x(ours.big.mbps, peer.big.mbps)} (${ours.big.mbps.toFixed(1)} vs ${peer.big.mbps.toFixed(1)} MB/s)` })),
    ...when(cached && peerCached, () => ({ target: `cache hit ≥ ${TARGETS.hitVsPeer}× fast-gateway's cache hit`, pass: cached.rps >= TARGETS.hitVsPeer * peerCached.rps, figures: rps(cached.rps, peerCached.rps) + (ceiling ? `; node:http answering from memory on the same core: ${x(ceiling.rps, peerCached.rps)}` : '') })),
    ...when(cached && results['gateway-stale']?.hit, () => ({ target: `stale hit ≥ ${TARGETS.staleVsHit}× a fresh hit`, pass: results['gateway-stale'].hit.rps >= TARGETS.staleVsHit * cached.rps, figures: rps(results['gateway-stale'].hit.rps, cached.rps, 'req/s, fresh hit') })),
    ...when(cached && direct, () => ({ target: `cache hit ≥ ${TARGETS.hitVsDirect}× direct`, pass: cached.rps >= TARGETS.hitVsDirect * direct.rps, figures: rps(cached.rps, direct.rps, 'req/s, direct on /cached') })),
    ...when(ours.hello && undici, () => ({ target: `/hello ≥ ${TARGETS.vsUndici}× the undici floor`, pass: ours.hello.rps >= TARGETS.vsUndici * undici.rps, figures: rps(ours.hello.rps, undici.rps) })),
    ...when(http.some((system) => system.ours), () => ({ target: `peak RSS ≤ ${TARGETS.rssMiB} MiB (single-process gateway)`, pass: oursRss <= TARGETS.rssMiB, figures: `${oursRss.toFixed(1)} MiB, the largest of ${single.map((system) => `${system.label} ${(peakRss[system.key] ?? 0).toFixed(1)}`).join(', ')}` })),
    ...when(results['gateway-3-targets']?.hello && ours.hello, () => ({ target: `3 targets (round-robin) within 10 % of one target on /hello`, pass: results['gateway-3-targets'].hello.rps >= TARGETS.threeTargets * ours.hello.rps, figures: rps(results['gateway-3-targets'].hello.rps, ours.hello.rps, 'req/s, one target') })),
    ...[
      ['gateway-rate-limit', TARGETS.rateLimitMemory, 'rate limit in memory'],
      ['gateway-rate-limit-redis', TARGETS.rateLimitRedis, 'rate limit in Redis'],
      ['gateway-jwt', TARGETS.jwt, 'JWT route (RS256, the same token)'],
      ['gateway-tracing', TARGETS.tracing, 'tracing at sampleRatio 1'],
    ].flatMap(([key, share, what]) =>
      when(results[key]?.hello && ours.hello, () => ({ target: `${what}: /hello ≥ ${share}× the same route without it`, pass: results[key].hello.rps >= share * ours.hello.rps, figures: rps(results[key].hello.rps, ours.hello.rps, 'req/s, open route') })),
    ),
    ...when(results['gateway-tls']?.tls && ours.hello, () => ({ target: `HTTPS/1.1 keep-alive: /hello ≥ ${TARGETS.tlsVsPlain}× the gateway over plain HTTP`, pass: results['gateway-tls'].tls.rps >= TARGETS.tlsVsPlain * ours.hello.rps, figures: rps(results['gateway-tls'].tls.rps, ours.hello.rps, 'req/s, plain HTTP') })),
    ...when(results['gateway-h2']?.h2 && results['gateway-tls']?.tls, () => ({ target: `HTTP/2: /hello ≥ ${TARGETS.http2VsTls}× HTTPS/1.1`, pass: results['gateway-h2'].h2.rps >= TARGETS.http2VsTls * results['gateway-tls'].tls.rps, figures: rps(results['gateway-h2'].h2.rps, results['gateway-tls'].tls.rps, 'req/s, HTTPS/1.1') })),
    ...when(ours.ws && nginxWs, () => ({ target: `WebSocket echo ≥ ${TARGETS.wsVsNginx}× nginx's messages/s`, pass: ours.ws.rps >= TARGETS.wsVsNginx * nginxWs.rps, figures: rps(ours.ws.rps, nginxWs.rps, 'messages/s') })),
    { target: 'zero errors and zero non-2xx in every row', pass: erring.length === 0, figures: erring.length ? `errors in: ${erring.join(', ')}` : 'none in any row' },
  ];
  return { table, targets };
}
