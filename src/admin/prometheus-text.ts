/** One sample of Prometheus' text format. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const ESCAPE = /\\(.)/g;
const unescape = (value: string) => value.replace(ESCAPE, (_, char: string) => (char === 'n' ? '\n' : char));

/**
 * The samples of Prometheus' text format (what `/metrics` answers, summed over workers or not),
 * by metric name; `only` keeps the names it holds. Comments and unreadable lines are skipped.
 */
export function parseSamples(text: string, only: ReadonlySet<string>): Map<string, Sample[]> {
  const byName = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match || !only.has(match[1])) continue;
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(LABEL)) labels[name] = unescape(value);
    const samples = byName.get(match[1]) ?? [];
    samples.push({ labels, value: Number(match[3]) });
    byName.set(match[1], samples);
  }
  return byName;
}
