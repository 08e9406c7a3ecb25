// The bench's report: the markdown table, each system's setup, and the targets of issues 12 and 13,
// all from the medians of one run. Pure, so that it can be checked on made-up figures.
export const TARGETS = { hello: 1.4, helloLogged: 1.25, big: 1.4, hitVsPeer: 3, hitVsDirect: 0.6, vsUndici: 0.75, rssMiB: 120, threeTargets: 0.9 };

/**
 * `systems`: { key, label, setup, ours? }[]; `results[key][kind]` for kind hello, big, hit:
 * { rps, mbps, p99, socketErrors, non2xx }; `peakRss[key]` in MiB.
 */
export function report(systems, results, peakRss) {
  const peer = results['fast-gateway'];
  const ratio = (value, reference) => (value && reference ? `${(value / reference).toFixed(2)}×` : '');
  const cell = (value, digits = 0) => (value === undefined ? '' : value.toFixed(digits));
  const table = [
    '| system | /hello req/s | × fast-gateway | 64 KiB MB/s | × fast-gateway | cache hit req/s | p99 ms | errors/non-2xx |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const system of systems) {
    const { hello, big, hit } = results[system.key];
    const all = [hello, big, hit].filter(Boolean);
    const errors = all.reduce((sum, r) => sum + r.socketErrors, 0);
    const non2xx = all.reduce((sum, r) => sum + r.non2xx, 0);
    table.push(
      `| ${system.label} | ${cell(hello?.rps)} | ${ratio(hello?.rps, peer.hello.rps)} | ${cell(big?.mbps, 1)} | ${ratio(big?.mbps, peer.big.mbps)} | ${cell(hit?.rps)} | ${cell((hello ?? hit).p99, 2)} | ${errors}/${non2xx} |`,
    );
  }
  table.push('', 'p99: of /hello; on the two cache rows, of the cache hit. errors: wrk socket errors (connect, read, write, timeout), summed over the rounds.');
  for (const system of systems) table.push(`- ${system.label}: ${system.setup}${peakRss[system.key] ? `; peak RSS ${peakRss[system.key].toFixed(1)} MiB` : ''}`);

  const ours = results.gateway;
  const logged = results['gateway-access-log'];
  const cached = results['gateway-cache'].hit;
  const peerCached = results['fast-gateway-cache'].hit;
  const direct = results.direct.hit;
  const undici = results['floor-undici'].hello;
  const single = systems.filter((system) => system.ours);
  const oursRss = Math.max(...single.map((system) => peakRss[system.key] ?? 0));
  const x = (a, b) => `${(a / b).toFixed(2)}×`;
  const rps = (a, b, unit = 'req/s') => `${x(a, b)} (${a.toFixed(0)} vs ${b.toFixed(0)} ${unit})`;
  const erring = systems.filter((system) => Object.values(results[system.key]).some((r) => r.socketErrors || r.non2xx)).map((system) => system.label);
  const targets = [
    { target: `/hello ≥ ${TARGETS.hello}× fast-gateway req/s`, pass: ours.hello.rps >= TARGETS.hello * peer.hello.rps, figures: rps(ours.hello.rps, peer.hello.rps) },
    { target: "/hello p99 ≤ fast-gateway's", pass: ours.hello.p99 <= peer.hello.p99, figures: `${ours.hello.p99.toFixed(2)} vs ${peer.hello.p99.toFixed(2)} ms` },
    { target: `access log on: /hello ≥ ${TARGETS.helloLogged}× fast-gateway req/s`, pass: logged.hello.rps >= TARGETS.helloLogged * peer.hello.rps, figures: rps(logged.hello.rps, peer.hello.rps) },
    { target: `64 KiB ≥ ${TARGETS.big}× fast-gateway MB/s`, pass: ours.big.mbps >= TARGETS.big * peer.big.mbps, figures: `${x(ours.big.mbps, peer.big.mbps)} (${ours.big.mbps.toFixed(1)} vs ${peer.big.mbps.toFixed(1)} MB/s)` },
    { target: `cache hit ≥ ${TARGETS.hitVsPeer}× fast-gateway's cache hit`, pass: cached.rps >= TARGETS.hitVsPeer * peerCached.rps, figures: rps(cached.rps, peerCached.rps) },
    { target: `cache hit ≥ ${TARGETS.hitVsDirect}× direct`, pass: cached.rps >= TARGETS.hitVsDirect * direct.rps, figures: rps(cached.rps, direct.rps, 'req/s, direct on /cached') },
    { target: `/hello ≥ ${TARGETS.vsUndici}× the undici floor`, pass: ours.hello.rps >= TARGETS.vsUndici * undici.rps, figures: rps(ours.hello.rps, undici.rps) },
    { target: `peak RSS ≤ ${TARGETS.rssMiB} MiB (single-process gateway)`, pass: oursRss <= TARGETS.rssMiB, figures: `${oursRss.toFixed(1)} MiB, the largest of ${single.map((system) => `${system.label} ${(peakRss[system.key] ?? 0).toFixed(1)}`).join(', ')}` },
    ...(results['gateway-3-targets']?.hello
      ? [{ target: `3 targets (round-robin) within 10 % of one target on /hello`, pass: results['gateway-3-targets'].hello.rps >= TARGETS.threeTargets * ours.hello.rps, figures: rps(results['gateway-3-targets'].hello.rps, ours.hello.rps, 'req/s, one target') }]
      : []),
    { target: 'zero errors and zero non-2xx in every row', pass: erring.length === 0, figures: erring.length ? `errors in: ${erring.join(', ')}` : 'none in any row' },
  ];
  return { table, targets };
}
