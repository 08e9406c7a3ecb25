import { Logger } from '@nestjs/common';
import type { TracingOptions } from '../config/gateway-options.interface.js';
import { throttledWarning } from '../throttled-warning.js';
import { GatewayTracer } from './gateway-tracer.js';
import { resolveTracingSettings } from './tracing-settings.js';

export { GatewayTracer, RequestTrace, type TraceCounts } from './gateway-tracer.js';
export { resolveTracingSettings, type TracingSettings } from './tracing-settings.js';

/** A failing collector is named at most this often. */
const EXPORT_WARNING_INTERVAL_MS = 30_000;

/**
 * The tracer for the options, with the OTLP exporter of their protocol. The exporters (and what
 * they load) are imported only when tracing is on.
 */
export async function startTracer(options: TracingOptions, env: NodeJS.ProcessEnv = process.env): Promise<GatewayTracer> {
  const settings = resolveTracingSettings(options, env);
  const { OTLPTraceExporter } =
    settings.protocol === 'http/json' ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto');
  const exporter = new OTLPTraceExporter({ url: settings.url, headers: settings.headers, timeoutMillis: settings.exportTimeoutMs });
  const logger = new Logger('Tracing');
  logger.log(`traces to ${settings.url} (${settings.protocol}), sampling ${settings.sampleRatio} of new traces, as ${settings.serviceName}`);
  return new GatewayTracer(settings, exporter, throttledWarning(logger, EXPORT_WARNING_INTERVAL_MS));
}
