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

/** Pick the format from an Accept header the way Prometheus negotiates it. */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  return accept !== undefined && accept.includes('application/openmetrics-text') ? 'openmetrics' : 'prometheus';
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
    const familyName = this.format === 'openmetrics' && type === 'counter' ? name.replace(/_total$/, '') : name;
    const omType = this.format === 'openmetrics' && type === 'untyped' ? 'unknown' : type;
    this.parts.push(`# HELP ${familyName} ${escapeHelp(help)}\n# TYPE ${familyName} ${omType}\n`);
  }

  /** One sample; `labelText` is already rendered (`a="1",b="2"`) or empty. */
  sample(name: string, labelText: string, value: number): void {
    this.parts.push(labelText === '' ? `${name} ${formatValue(value)}\n` : `${name}{${labelText}} ${formatValue(value)}\n`);
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
    const escaped = /[\\"\n]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : s;
    out += `${out === '' ? '' : ','}${k}="${escaped}"`;
  }
  return out;
}
