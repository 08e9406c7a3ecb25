import { ExportResultCode } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { RecordedSpan, SpanOrigin } from './recorded-span.js';
import { EncodedSpans, JsonSpans, ProtobufSpans } from './span-encoding.js';
import type { TracingSettings } from './tracing-settings.js';

/** What became of the finished spans, since start: what the metrics report. */
export interface TraceCounts {
  exported: number;
  /** Past `maxQueueSize`: the collector was slower than the traffic. */
  dropped: number;
  /** Sent, and refused or never answered by the collector. */
  failed: number;
}

/** Spans encoded together (see {@link SpanExport.add}). */
const ENCODE_BATCH = 32;
/**
 * Spans per export request, at most: twice what OpenTelemetry's batch processor sends by default.
 * Each export is an HTTP request through the exporter, and at 512 spans the exports cost a traced
 * request ~2 % of its CPU more than at 1,024 (two gateways side by side, 16 alternating loads,
 * twice: 1.025× and 1.024×). A queue smaller than this sends batches of its own size.
 */
export const MAX_EXPORT_BATCH = 1024;
/** The component type OpenTelemetry's exporters report themselves as. */
const COMPONENT_TYPE = 'otlp_http_span_exporter';

/** An export request: its body, already encoded, and how many spans it holds. */
interface EncodedBatch {
  body: Uint8Array;
  spans: number;
}

/**
 * The sampled spans' way out: queued as encoded bytes when they end, sent by OpenTelemetry's
 * OTLP/HTTP exporter (its timeouts, retries, headers and response handling) on a timer, or as soon
 * as a batch is full, one export at a time: a collector that refuses or hangs costs spans,
 * counted in {@link TraceCounts}, never a request.
 */
export class SpanExport {
  readonly counts: TraceCounts = { exported: 0, dropped: 0, failed: 0 };
  private readonly queue: EncodedSpans;
  private readonly exporter: OTLPExporterBase<EncodedBatch>;
  private readonly timer: NodeJS.Timeout;
  private exporting: Promise<void> | undefined;
  private flushScheduled = false;
  private readonly ended: RecordedSpan[] = [];
  /** A full batch, sent as soon as it is queued: no more than the queue holds. */
  private readonly batchSize: number;

  constructor(
    private readonly settings: TracingSettings,
    origin: SpanOrigin,
    private readonly warn: (message: string) => void,
  ) {
    const json = settings.protocol === 'http/json';
    this.batchSize = Math.min(MAX_EXPORT_BATCH, settings.maxQueueSize);
    this.queue = json ? new JsonSpans(origin, settings.maxQueueSize) : new ProtobufSpans(origin, settings.maxQueueSize);
    const responses = json ? JsonTraceSerializer : ProtobufTraceSerializer;
    const delegate = createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({ url: settings.url, headers: settings.headers, timeoutMillis: settings.exportTimeoutMs }, 'TRACES', 'v1/traces', { 'Content-Type': this.queue.contentType }),
      { serializeRequest: (batch: EncodedBatch) => batch.body, deserializeResponse: (data: Uint8Array) => responses.deserializeResponse(data) },
      COMPONENT_TYPE,
      { name: 'span', countItems: (batch: EncodedBatch) => batch.spans },
      undefined,
    );
    this.exporter = new OTLPExporterBase(delegate);
    this.timer = setInterval(() => void this.sendAll(), settings.exportIntervalMs).unref();
  }

  /**
   * Takes a finished, sampled span; every {@link ENCODE_BATCH} of them are encoded into the queue
   * together. One at a time, between the rest of each request's work, the encoder ran with cold
   * caches at several times its cost in a loop; the few spans kept meanwhile mostly die before
   * the young generation is next collected.
   */
  add(span: RecordedSpan): void {
    if (this.ended.push(span) === ENCODE_BATCH) this.encodeEnded();
  }

  /** Encodes the spans ended since the last time into the queue; a full queue drops them, counted and warned of. */
  private encodeEnded(): void {
    const ended = this.ended;
    for (let i = 0; i < ended.length; i++) {
      if (this.queue.add(ended[i])) continue;
      this.counts.dropped += ended.length - i;
      this.warn(`trace export: spans dropped, more than ${this.settings.maxQueueSize} waiting for ${this.settings.url}`);
      break;
    }
    ended.length = 0;
    // A full batch goes now rather than at the next tick, off the request's own path.
    if (this.queue.count >= this.batchSize && !this.flushScheduled && !this.exporting) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        void this.send(this.batchSize);
      });
    }
  }

  /** The timer's send: every span ended so far, the last batch however small. */
  private sendAll(): Promise<void> {
    this.encodeEnded();
    return this.send(1);
  }

  /**
   * Sends what is queued, batch after batch, while at least `least` spans wait: the timer sends
   * whatever there is, a full batch only full ones (the rest waits for the timer rather than
   * going out a few spans at a time). The next export waits for the one before it.
   */
  private send(least: number): Promise<void> {
    this.exporting ??= this.exportQueued(least).finally(() => (this.exporting = undefined));
    return this.exporting;
  }

  /**
   * Stops the timer and sends what is left, after any export under way (which may stop short of
   * a partial batch); waits `waitMs` at most for a collector that does not answer.
   */
  async shutdown(waitMs: number): Promise<void> {
    clearInterval(this.timer);
    let given: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (given = setTimeout(resolve, waitMs)));
    const last = async () => {
      await this.exporting;
      await this.sendAll();
      await this.exporter.shutdown();
    };
    await Promise.race([last(), deadline]);
    clearTimeout(given);
  }

  private async exportQueued(least: number): Promise<void> {
    while (this.queue.count >= least) {
      const spans = Math.min(this.batchSize, this.queue.count);
      const result = await new Promise<{ code: ExportResultCode; error?: Error }>((resolve) => this.exporter.export({ body: this.queue.take(spans), spans }, resolve));
      if (result.code === ExportResultCode.SUCCESS) {
        this.counts.exported += spans;
        continue;
      }
      this.counts.failed += spans;
      this.warn(`trace export to ${this.settings.url} failed (${result.error?.message ?? 'refused'}): its spans are lost`);
      return;
    }
  }
}
