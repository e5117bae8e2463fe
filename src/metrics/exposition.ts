/**
 * A minimal, allocation-light writer for the Prometheus text format (0.0.4) and OpenMetrics 1.0.
 *
 * oomwatch renders its own families instead of going through prom-client's registry: per-container label
 * sets are rendered once per container and reused on every scrape, so a scrape is string concatenation
 * over memory only. prom-client still provides the process metrics and oomwatch's self metrics, which are
 * fed through the same writer (see metrics/registry.ts) so both formats come out consistently.
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

export class ExpositionWriter {
  private readonly parts: string[] = [];

  constructor(readonly format: ExpositionFormat) {}

  /**
   * Start a family. `name` is the sample name as Prometheus writes it (counters end in `_total`); in
   * OpenMetrics the family name of a counter drops the `_total` suffix.
   */
  family(name: string, type: FamilyType, help: string): void {
    const familyName =
      this.format === 'openmetrics' && type === 'counter' ? name.replace(/_total$/, '') : name;
    const omType = this.format === 'openmetrics' && type === 'untyped' ? 'unknown' : type;
    this.parts.push(`# HELP ${familyName} ${escapeHelp(help)}\n# TYPE ${familyName} ${omType}\n`);
  }

  /** One sample; `labelText` is already rendered (`a="1",b="2"`) or empty. */
  sample(name: string, labelText: string, value: number): void {
    this.parts.push(
      labelText === '' ? `${name} ${formatValue(value)}\n` : `${name}{${labelText}} ${formatValue(value)}\n`,
    );
  }

  /** A pre-rendered line block (ends with a newline). */
  raw(text: string): void {
    this.parts.push(text);
  }

  finish(): string {
    if (this.format === 'openmetrics') this.parts.push('# EOF\n');
    return this.parts.join('');
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
