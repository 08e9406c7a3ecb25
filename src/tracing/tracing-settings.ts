import type { TracingOptions } from '../config/gateway-options.interface.js';
import { toMilliseconds } from '../config/resolve-options.js';

/** What the tracer runs with: the options, then the standard `OTEL_*` variables, then defaults. */
export interface TracingSettings {
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  sampleRatio: number;
  serviceName: string;
  headers: Record<string, string>;
  exportIntervalMs: number;
  exportTimeoutMs: number;
  maxQueueSize: number;
}

const DEFAULT_URL = 'http://localhost:4318/v1/traces';
const PROTOCOLS = new Set(['http/protobuf', 'http/json']);

/**
 * The settings the options and the environment give, read as the OpenTelemetry specification
 * reads its variables: the signal's own (`OTEL_EXPORTER_OTLP_TRACES_*`) before the general one,
 * whose endpoint gets `/v1/traces` appended. A field of the config wins over either.
 */
export function resolveTracingSettings(options: TracingOptions, env: NodeJS.ProcessEnv = process.env): TracingSettings {
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const protocol = options.protocol ?? [env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, env.OTEL_EXPORTER_OTLP_PROTOCOL].find((value) => value && PROTOCOLS.has(value));
  return {
    url: options.otlpUrl ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (general ? `${general.replace(/\/+$/, '')}/v1/traces` : DEFAULT_URL),
    protocol: (protocol ?? 'http/protobuf') as TracingSettings['protocol'],
    sampleRatio: options.sampleRatio ?? 1,
    serviceName: options.serviceName ?? env.OTEL_SERVICE_NAME ?? 'nest-gateway',
    headers: options.headers ?? parseHeaderList(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS),
    exportIntervalMs: toMilliseconds(options.exportInterval ?? 1000),
    exportTimeoutMs: toMilliseconds(options.exportTimeout ?? 10_000),
    maxQueueSize: options.maxQueueSize ?? 2048,
  };
}

/** `key1=value1,key2=value2`, values percent-encoded (the W3C Baggage form the specification names). */
function parseHeaderList(list: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (list ?? '').split(',')) {
    const separator = pair.indexOf('=');
    if (separator <= 0) continue;
    headers[pair.slice(0, separator).trim().toLowerCase()] = decodeURIComponent(pair.slice(separator + 1).trim());
  }
  return headers;
}
