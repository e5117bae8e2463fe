/**
 * A minimal, allocation-light writer for the Prometheus text format (0.0.4) and OpenMetrics 1.0.
 *
 * oomwatch renders its own families instead of going through prom-client's registry: per-container label
 * sets are rendered once per container and reused on every scrape, so a scrape is string concatenation
 * over memory only. prom-client still provides the process metrics and oomwatch's self metrics, which are
 * fed through the same writer (see metrics/self.ts) so both formats come out consistently.
 */

export type ExpositionFormat = 'prometheus' | 'openmetrics';
export type FamilyType = 'gauge' | 'counter' | 'histogram' | 'summary' | 'untyped';

export const CONTENT_TYPES: Record<ExpositionFormat, string> = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/**
 * Pick the format from an Accept header by its quality values, as Prometheus asks. Prometheus 2.x puts
 * OpenMetrics first (`application/openmetrics-text;version=1.0.0,...;q=0.75,text/plain;version=0.0.4;q=0.5`
 * and a catch-all at q=0.1); a scrape_protocols list that puts PrometheusText0.0.4 first gives text/plain the
 * higher q. OpenMetrics is served when it is acceptable (q > 0) and not less preferred than the text format;
 * otherwise, and when the header names neither, the text format.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined) return 'prometheus';
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text ? 'openmetrics' : 'prometheus';
}

export function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * Gives a payload buffer's memory back now rather than at some later garbage collection. Its bytes live
 * outside the JavaScript heap, whose collections come when the heap grows, not when memory outside it
 * does; detaching the ArrayBuffer (transfer(0)) frees them at once. Every view of the buffer is empty
 * afterwards: only for a buffer from ExpositionWriter that nothing reads any more.
 */
export function releaseBytes(bytes: Buffer): void {
  const whole = bytes.buffer;
  if (whole instanceof ArrayBuffer && !whole.detached) whole.transfer(0);
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const ZERO = 0x30;

/**
 * Writes the payload straight into one growing byte buffer. A scrape of a thousand containers is 17,000
 * lines; built as strings they were 17,000 short-lived strings, a 2.5 MB joined copy and a UTF-8 copy of
 * that for the socket, enough garbage per scrape to grow the heap by tens of megabytes. Here the bytes are
 * written once, integer values digit by digit, and the buffer goes to the socket as it is.
 */
export class ExpositionWriter {
  private buf: Buffer;
  private length = 0;

  /** `sizeHint`: the expected payload size in bytes (the previous scrape's), to avoid growing the buffer. */
  constructor(
    readonly format: ExpositionFormat,
    sizeHint = 16 * 1024,
  ) {
    const size = Math.max(16 * 1024, sizeHint + (sizeHint >> 4));
    // Never from Node's shared pool: the buffer's memory is released by releaseBytes, which must not take
    // other Buffers' bytes with it.
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  /**
   * Start a family. `name` is the sample name as Prometheus writes it (counters end in `_total`); in
   * OpenMetrics the family name of a counter drops the `_total` suffix.
   */
  family(name: string, type: FamilyType, help: string): void {
    const familyName =
      this.format === 'openmetrics' && type === 'counter' ? name.replace(/_total$/, '') : name;
    const omType = this.format === 'openmetrics' && type === 'untyped' ? 'unknown' : type;
    this.text(`# HELP ${familyName} ${escapeHelp(help)}\n# TYPE ${familyName} ${omType}\n`);
  }

  /** One sample; `labelText` is already rendered (`a="1",b="2"`) or empty. */
  sample(name: string, labelText: string, value: number): void {
    this.text(name);
    if (labelText !== '') {
      this.byte(OPEN_BRACE);
      this.text(labelText);
      this.byte(CLOSE_BRACE);
    }
    this.byte(SPACE);
    this.number(value);
    this.byte(NEWLINE);
  }

  /** One sample whose name and label text are already UTF-8 bytes (the per-container families). */
  encodedSample(name: Uint8Array, labelText: Uint8Array, value: number): void {
    this.bytes(name);
    if (labelText.length > 0) {
      this.byte(OPEN_BRACE);
      this.bytes(labelText);
      this.byte(CLOSE_BRACE);
    }
    this.byte(SPACE);
    this.number(value);
    this.byte(NEWLINE);
  }

  /** A pre-rendered line block (ends with a newline). */
  raw(text: string): void {
    this.text(text);
  }

  finish(): string {
    const bytes = this.finishBytes();
    const text = bytes.toString('utf8');
    releaseBytes(bytes);
    return text;
  }

  /** The payload as bytes (a view of the writer's buffer: the writer must not be used afterwards). */
  finishBytes(): Buffer {
    if (this.format === 'openmetrics') this.text('# EOF\n');
    return this.buf.subarray(0, this.length);
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + extra) size *= 2;
    const bigger = Buffer.allocUnsafeSlow(size);
    this.buf.copy(bigger, 0, 0, this.length);
    releaseBytes(this.buf);
    this.buf = bigger;
  }

  private text(s: string): void {
    this.ensure(s.length * 3); // the most UTF-8 bytes one UTF-16 unit can take
    this.length += this.buf.write(s, this.length, 'utf8');
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  private byte(c: number): void {
    this.ensure(1);
    this.buf[this.length++] = c;
  }

  /** Counters and byte counts are non-negative integers: written digit by digit, as formatValue would. */
  private number(v: number): void {
    if (!(Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER)) {
      this.text(formatValue(v));
      return;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    this.ensure(digits);
    let pos = this.length + digits - 1;
    let t = v;
    do {
      this.buf[pos--] = ZERO + (t % 10);
      t = Math.floor(t / 10);
    } while (t > 0);
    this.length += digits;
  }
}

/** Render `{k: v}` as label text with values escaped. */
export function renderLabels(labels: Record<string, string | number>): string {
  let out = '';
  for (const [k, v] of Object.entries(labels)) {
    const s = String(v);
    const escaped = /[\\"\n]/.test(s)
      ? s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
      : s;
    out += `${out === '' ? '' : ','}${k}="${escaped}"`;
  }
  return out;
}
