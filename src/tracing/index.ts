import { Logger } from '@nestjs/common';
import type { TracingOptions } from '../config/gateway-options.interface.js';
import { throttledWarning } from '../throttled-warning.js';
import type { GatewayTracer } from './gateway-tracer.js';
import { resolveTracingSettings } from './tracing-settings.js';

export type { GatewayTracer, RequestTrace, TraceCounts } from './gateway-tracer.js';
export { resolveTracingSettings, type TracingSettings } from './tracing-settings.js';

/** A failing collector is named at most this often. */
const EXPORT_WARNING_INTERVAL_MS = 30_000;

/**
 * The tracer for the options, exporting in their protocol. OpenTelemetry's packages
 * are imported only when tracing is on: a gateway without it loads none of them.
 */
export async function startTracer(options: TracingOptions, env: NodeJS.ProcessEnv = process.env): Promise<GatewayTracer> {
  const settings = resolveTracingSettings(options, env);
  const { GatewayTracer } = await import('./gateway-tracer.js');
  const logger = new Logger('Tracing');
  logger.log(`traces to ${settings.url} (${settings.protocol}), sampling ${settings.sampleRatio} of new traces, as ${settings.serviceName}`);
  return new GatewayTracer(settings, throttledWarning(logger, EXPORT_WARNING_INTERVAL_MS));
}
