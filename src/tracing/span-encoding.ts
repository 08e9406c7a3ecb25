import type { AttributeSink, RecordedSpan, SpanOrigin } from './recorded-span.js';

/**
 * Finished spans as the bytes of an OTLP export, written when each span ends: a queue of spans
 * waiting for the export timer keeps no object per span, only its bytes in one buffer. Queued
 * span objects outlived V8's young generation and were copied and promoted by every scavenge on
 * the way; the gateway's bench paid more for that, and for the exporter's per-batch garbage, than
 * for the spans themselves. The bytes are what OpenTelemetry's own serializers write for the same
 * spans (`span-encoding.spec.ts` holds them to it), and go out through its OTLP exporter.
 */
export abstract class EncodedSpans {
  abstract readonly contentType: string;
  protected buffer = Buffer.allocUnsafe(64 * 1024);
  protected pos = 0;
  /** Where each queued span's bytes end: `ends[i]` for the i-th span. */
  private ends: Int32Array;
  private queued = 0;

  constructor(
    protected readonly origin: SpanOrigin,
    readonly capacity: number,
  ) {
    this.ends = new Int32Array(capacity);
  }

  get count(): number {
    return this.queued;
  }

  /** Queues the span's bytes; false when `capacity` spans already wait. */
  add(span: RecordedSpan): boolean {
    if (this.queued === this.capacity) return false;
    this.write(span);
    this.ends[this.queued++] = this.pos;
    return true;
  }

  /**
   * The export request body of the first `count` queued spans, which leave the queue. The body is
   * written into one buffer kept for the purpose, so it holds until the next `take`: exports go
   * one at a time. A fresh buffer for each body cost more in page faults than the copy itself.
   */
  take(count: number): Uint8Array {
    const end = this.ends[count - 1];
    const body = this.body(count, end);
    this.buffer.copyWithin(0, end, this.pos);
    this.pos -= end;
    for (let i = count; i < this.queued; i++) this.ends[i - count] = this.ends[i] - end;
    this.queued -= count;
    return body;
  }

  protected abstract write(span: RecordedSpan): void;
  protected abstract body(count: number, end: number): Uint8Array;

  private outgoing = Buffer.allocUnsafe(0);

  /** `size` bytes of the kept body buffer, grown (doubled, at least) when a body needs more. */
  protected bodyBuffer(size: number): Buffer {
    if (this.outgoing.length < size) this.outgoing = Buffer.allocUnsafe(Math.max(size, this.outgoing.length * 2));
    return this.outgoing.subarray(0, size);
  }

  /** Room for `bytes` more at `pos`, the buffer doubled as often as it takes. */
  protected reserve(bytes: number): void {
    if (this.pos + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }
}

/** OTLP span flags: the W3C flags, and whether the parent is remote (known, so always flagged as known). */
function spanFlags(span: RecordedSpan): number {
  return (span.traceFlags & 0xff) | 0x100 | (span.parentSpanContext?.isRemote ? 0x200 : 0);
}

/** A span's length takes two bytes (128 bytes to 16 KiB): what the gateway's spans are. */
const SPAN_LENGTH_BYTES = 2;
/** Room for a span's ids and tags up to its first string; each string, and what follows one, asks for its own. */
const SPAN_ROOM = 64;
/** `Span.dropped_attributes_count`, `dropped_events_count`, `dropped_links_count`: each 0, written as the SDK writes them. */
const NOTHING_DROPPED = Uint8Array.from([0x50, 0, 0x60, 0, 0x70, 0]);
/** A hex digit's value by its character code (ids are lowercase hex). */
const HEX_VALUES = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) HEX_VALUES['0123456789abcdef'.charCodeAt(digit)] = digit;
/** The bytes of a varint of a length (under 2^35: five bytes at most). */
const varintSize = (value: number): number => (value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5);

/** `http/protobuf`: each span a `Span` message, the batch one `ExportTraceServiceRequest` of one resource and scope. */
export class ProtobufSpans extends EncodedSpans implements AttributeSink {
  readonly contentType = 'application/x-protobuf';
  /** The `Resource` and the `InstrumentationScope` fields, the same for every batch. */
  private readonly resourceAndScope: { resource: Buffer; scope: Buffer };

  constructor(origin: SpanOrigin, capacity: number) {
    super(origin, capacity);
    this.resourceAndScope = this.encodeResourceAndScope();
  }

  protected write(span: RecordedSpan): void {
    this.reserve(SPAN_ROOM);
    const buffer = this.buffer;
    buffer[this.pos++] = 0x12; // ScopeSpans.spans
    const start = this.open(SPAN_LENGTH_BYTES);
    buffer[this.pos++] = 0x0a;
    this.hex(span.traceId, 16);
    buffer[this.pos++] = 0x12;
    this.hex(span.spanId, 8);
    if (span.traceState) this.text(3, span.traceState.serialize());
    const parent = span.parentSpanContext;
    if (parent?.spanId) {
      this.reserve(16); // the tracestate may have taken the room kept above
      this.buffer[this.pos++] = 0x22;
      this.hex(parent.spanId, 8);
    }
    this.text(5, span.name);
    this.reserve(32); // the strings above may have taken the room kept at the start
    let at = this.pos;
    const times = this.buffer;
    times[at++] = 0x30;
    times[at++] = span.kind + 1;
    times[at++] = 0x39;
    at = writeEpochNanoseconds(times, at, span.startMs);
    times[at++] = 0x41;
    this.pos = writeEpochNanoseconds(times, at, span.endMs);
    span.writeAttributes(this);
    this.reserve(32);
    const tail = this.buffer;
    at = this.pos;
    for (let i = 0; i < NOTHING_DROPPED.length; i++) tail[at++] = NOTHING_DROPPED[i];
    tail[at++] = 0x7a; // Span.status
    this.pos = at;
    if (span.errorMessage) {
      const status = this.open();
      this.text(2, span.errorMessage);
      this.reserve(16);
      this.buffer[this.pos++] = 0x18;
      this.buffer[this.pos++] = 2;
      this.close(status);
    } else {
      tail[at++] = 2;
      tail[at++] = 0x18;
      tail[at++] = span.errorType === undefined ? 0 : 2;
      this.pos = at;
    }
    this.reserve(8);
    const flags = this.buffer;
    at = this.pos;
    flags[at++] = 0x85; // Span.flags, field 16: a two-byte tag
    flags[at++] = 0x01;
    this.pos = writeUInt32(flags, at, spanFlags(span));
    this.close(start, SPAN_LENGTH_BYTES);
  }

  /** A `KeyValue` of a string, as a `Span.attributes` entry. */
  string(key: string, value: string): void {
    this.stringEntry(9, key, value);
  }

  private stringEntry(field: number, key: string, value: string): void {
    // The common case, ASCII and under 128 bytes in all, has every length known before writing.
    const anyLength = 2 + value.length;
    const entryLength = 2 + key.length + 2 + anyLength;
    if (entryLength < 0x80) {
      this.reserve(2 + entryLength);
      const buffer = this.buffer;
      const at = this.pos;
      buffer[at] = (field << 3) | 2;
      buffer[at + 1] = entryLength;
      buffer[at + 2] = 0x0a;
      buffer[at + 3] = key.length;
      const valueAt = at + 4 + key.length;
      buffer[valueAt] = 0x12;
      buffer[valueAt + 1] = anyLength;
      buffer[valueAt + 2] = 0x0a;
      buffer[valueAt + 3] = value.length;
      if (copyAscii(buffer, at + 4, key) && copyAscii(buffer, valueAt + 4, value)) {
        this.pos = valueAt + 4 + value.length;
        return;
      }
    }
    this.reserve(16);
    this.buffer[this.pos++] = (field << 3) | 2;
    const entry = this.open();
    this.text(1, key);
    this.reserve(8);
    this.buffer[this.pos++] = 0x12;
    const any = this.open();
    this.text(1, value);
    this.close(any);
    this.close(entry);
  }

  /**
   * A `KeyValue` of an integer (`int_value`), as a `Span.attributes` entry. Integer attributes
   * are the gateway's own few (status code, port, resend count): short ASCII names, so every
   * length is known before writing.
   */
  int(key: string, value: number): void {
    const anyLength = 1 + varintSize(value);
    const entryLength = 2 + key.length + 2 + anyLength;
    this.reserve(2 + entryLength);
    const buffer = this.buffer;
    const at = this.pos;
    buffer[at] = 0x4a;
    buffer[at + 1] = entryLength;
    buffer[at + 2] = 0x0a;
    buffer[at + 3] = key.length;
    copyAscii(buffer, at + 4, key);
    const valueAt = at + 4 + key.length;
    buffer[valueAt] = 0x12;
    buffer[valueAt + 1] = anyLength;
    buffer[valueAt + 2] = 0x18;
    this.pos = writeVarint(buffer, valueAt + 3, value);
  }

  protected body(count: number, end: number): Uint8Array {
    const { resource, scope } = this.resourceAndScope;
    const scopeSpans = scope.length + end;
    const resourceSpans = resource.length + 1 + varintSize(scopeSpans) + scopeSpans;
    const body = this.bodyBuffer(1 + varintSize(resourceSpans) + resource.length + 1 + varintSize(scopeSpans) + scopeSpans);
    let at = body.writeUInt8(0x0a, 0); // ExportTraceServiceRequest.resource_spans
    at = writeVarint(body, at, resourceSpans);
    at += resource.copy(body, at);
    at = body.writeUInt8(0x12, at); // ResourceSpans.scope_spans
    at = writeVarint(body, at, scopeSpans);
    at += scope.copy(body, at);
    this.buffer.copy(body, at, 0, end);
    return body;
  }

  /** `ResourceSpans.resource` (its attributes, none dropped) and `ScopeSpans.scope`, each with its tag. */
  private encodeResourceAndScope(): { resource: Buffer; scope: Buffer } {
    const { resource, instrumentationScope } = this.origin;
    this.tag(1, 2);
    const start = this.open();
    for (const [key, value] of Object.entries(resource.attributes)) this.stringEntry(1, key, String(value));
    this.tag(2, 0);
    this.varint(0);
    this.close(start);
    const resourceField = Buffer.from(this.buffer.subarray(0, this.pos));
    this.pos = 0;
    this.tag(1, 2);
    const scope = this.open();
    this.text(1, instrumentationScope.name);
    this.close(scope);
    const scopeField = Buffer.from(this.buffer.subarray(0, this.pos));
    this.pos = 0;
    return { resource: resourceField, scope: scopeField };
  }

  private tag(field: number, wireType: number): void {
    this.pos = writeVarint(this.buffer, this.pos, (field << 3) | wireType);
  }

  private varint(value: number): void {
    this.pos = writeVarint(this.buffer, this.pos, value);
  }

  /**
   * A string field (numbers up to 15: a one-byte tag). Most of a span's strings are short ASCII,
   * copied a character at a time; any other goes through Buffer's UTF-8 writer.
   */
  private text(field: number, text: string): void {
    const length = text.length;
    this.reserve(8 + 3 * length);
    const buffer = this.buffer;
    const at = this.pos;
    buffer[at] = (field << 3) | 2;
    if (length < 0x80) {
      let i = 0;
      while (i < length) {
        const code = text.charCodeAt(i);
        if (code > 0x7f) break;
        buffer[at + 2 + i++] = code;
      }
      if (i === length) {
        buffer[at + 1] = length;
        this.pos = at + 2 + length;
        return;
      }
    }
    const bytes = Buffer.byteLength(text);
    this.pos = writeVarint(buffer, at + 1, bytes);
    this.pos += buffer.write(text, this.pos, 'utf8');
  }

  /** A trace or span id, from its lowercase hex (made valid by the SDK or its propagator), as bytes with their length. */
  private hex(id: string, bytes: number): void {
    const buffer = this.buffer;
    let at = this.pos;
    buffer[at++] = bytes;
    for (let i = 0; i < bytes; i++) buffer[at++] = (HEX_VALUES[id.charCodeAt(2 * i)] << 4) | HEX_VALUES[id.charCodeAt(2 * i + 1)];
    this.pos = at;
  }

  /** A length-delimited message begins: one byte kept for its length, which most of them fit. */
  private open(kept = 1): number {
    this.pos += kept;
    return this.pos - kept;
  }

  /**
   * The message begun at `start`, with `kept` bytes kept for its length, ends: its length written,
   * the bytes moved when it needs another number of them (with the typed array's own
   * `copyWithin`: Buffer's `copy` costs more to call than these few hundred bytes cost to move).
   */
  private close(start: number, kept = 1): void {
    const length = this.pos - start - kept;
    const size = varintSize(length);
    if (size !== kept) {
      this.reserve(size - kept);
      this.buffer.copyWithin(start + size, start + kept, this.pos);
      this.pos += size - kept;
    }
    writeVarint(this.buffer, start, length);
  }
}

/**
 * A time in milliseconds since the epoch as OTLP's fixed64 nanoseconds, little-endian: the SDK's
 * own path (HrTime, then two 32-bit halves), so that the same span gives the same bytes.
 */
function writeEpochNanoseconds(buffer: Buffer, at: number, ms: number): number {
  const seconds = Math.trunc(ms / 1000);
  const nanos = Math.round((ms % 1000) * 1e6);
  const lowSeconds = (seconds & 0xffff) * 1e9;
  const highSeconds = ((seconds / 0x10000) >>> 0) * 1e9;
  const low = (lowSeconds >>> 0) + (((highSeconds & 0xffff) * 0x10000) >>> 0) + nanos;
  const high = Math.floor(lowSeconds / 0x100000000) + ((highSeconds / 0x10000) >>> 0) + Math.floor(low / 0x100000000);
  return writeUInt32(buffer, writeUInt32(buffer, at, low >>> 0), high >>> 0);
}

/** Little-endian, a byte at a time: Buffer's `writeUInt32LE` checks more than these callers need. */
function writeUInt32(buffer: Buffer, at: number, value: number): number {
  buffer[at] = value & 0xff;
  buffer[at + 1] = (value >>> 8) & 0xff;
  buffer[at + 2] = (value >>> 16) & 0xff;
  buffer[at + 3] = value >>> 24;
  return at + 4;
}

/** Copies `text` at `at` when it is ASCII, a byte a character; false (the bytes then meaningless) when it is not. */
function copyAscii(buffer: Buffer, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return false;
    buffer[at + i] = code;
  }
  return true;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[at++] = value;
  return at;
}

/** `http/json`: each span its OTLP/JSON object, the batch `{"resourceSpans":[…]}` around them. */
export class JsonSpans extends EncodedSpans {
  readonly contentType = 'application/json';
  private readonly head: Buffer;
  private static readonly TAIL = Buffer.from(']}]}]}');

  constructor(origin: SpanOrigin, capacity: number) {
    super(origin, capacity);
    const { resource, instrumentationScope } = origin;
    const attributes = Object.entries(resource.attributes).map(([key, value]) => ({ key, value: { stringValue: String(value) } }));
    const scope = { name: instrumentationScope.name };
    this.head = Buffer.from(`{"resourceSpans":[{"resource":${JSON.stringify({ attributes, droppedAttributesCount: 0 })},"scopeSpans":[{"scope":${JSON.stringify(scope)},"spans":[`);
  }

  protected write(span: RecordedSpan): void {
    const attributes: { key: string; value: { stringValue: string } | { intValue: number } }[] = [];
    span.writeAttributes({ string: (key, value) => attributes.push({ key, value: { stringValue: value } }), int: (key, value) => attributes.push({ key, value: { intValue: value } }) });
    const text = JSON.stringify({
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      traceState: span.traceState?.serialize(),
      name: span.name,
      kind: span.kind + 1,
      startTimeUnixNano: JsonSpans.nanosecondText(span.startMs),
      endTimeUnixNano: JsonSpans.nanosecondText(span.endMs),
      attributes,
      droppedAttributesCount: 0,
      events: [],
      droppedEventsCount: 0,
      status: { code: span.errorType === undefined ? 0 : 2, message: span.errorMessage },
      links: [],
      droppedLinksCount: 0,
      flags: spanFlags(span),
    });
    const separated = this.count > 0;
    this.reserve(Buffer.byteLength(text) + 1);
    if (separated) this.buffer[this.pos++] = 0x2c; // ','
    this.pos += this.buffer.write(text, this.pos, 'utf8');
  }

  protected body(count: number, end: number): Uint8Array {
    // The first span has no comma before it; the one after the batch loses its own when it moves up.
    const rest = this.count > count;
    const body = this.bodyBuffer(this.head.length + end + JsonSpans.TAIL.length);
    this.head.copy(body, 0);
    this.buffer.copy(body, this.head.length, 0, end);
    JsonSpans.TAIL.copy(body, this.head.length + end);
    if (rest) this.buffer[end] = 0x20; // ' ' where the next first span's comma was
    return body;
  }

  private static readonly time = Buffer.alloc(8);

  private static nanosecondText(ms: number): string {
    writeEpochNanoseconds(JsonSpans.time, 0, ms);
    return JsonSpans.time.readBigUInt64LE(0).toString();
  }
}
