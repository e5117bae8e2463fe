/**
 * Pure text formatting for the on-call commands: byte sizes, times, bars and aligned tables. No I/O, so
 * every function is table-tested and the commands' output is the same on every host.
 */

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 0 B, 512 B, 12.3 KiB, 256 MiB, 1.25 GiB: three significant digits at most, IEC units as `free -h`. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || Number.isNaN(bytes)) return '-';
  if (bytes === Infinity) return 'unlimited';
  if (bytes < 0) return `-${formatBytes(-bytes)}`;
  let unit = 0;
  let v = bytes;
  while (v >= 1024 && unit < IEC.length - 1) {
    v /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(v)} B`;
  // Three significant digits, trailing zeros dropped: 1.25 GiB, 12.3 MiB, 768 MiB.
  const fixed = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  const text = fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
  return `${text} ${IEC[unit]}`;
}

/** A ratio as a percentage with one decimal: 0.786 -> "78.6%". */
export function formatPercent(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return '-';
  return `${(ratio * 100).toFixed(1)}%`;
}

/** 300ms, 45s, 12m, 3h 05m, 4d 2h: the two largest units, for "ago" and spans of history. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms > 0 && ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h ${String(m % 60).padStart(2, '0')}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`;
}

export function formatAgo(thenMs: number, nowMs: number): string {
  return nowMs - thenMs < 1000 ? 'just now' : `${formatDuration(nowMs - thenMs)} ago`;
}

/**
 * Times are printed in UTC with a Z (as the kernel log, Docker and Prometheus show them), to the second:
 * 2026-11-28T01:34:12Z.
 */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A usage/limit bar: [########------------]. Over 100% fills the bar; the caller prints the number. */
export function bar(ratio: number, width = 20): string {
  const r = Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 0;
  const filled = Math.round(r * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export interface Column {
  header: string;
  /** Right-align (numbers). */
  right?: boolean;
}

/**
 * Align rows under headers with two spaces between columns; the last column is never padded (no trailing
 * blanks). Widths count characters, so colour codes must be added after alignment (see `paint`).
 */
export function formatTable(columns: readonly Column[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => {
        const last = i === columns.length - 1;
        const w = widths[i] as number;
        if (columns[i]?.right) return cell.padStart(w);
        return last ? cell : cell.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}

/** ANSI colours, only used when writing to a terminal and NO_COLOR is not set. */
export type Colour = 'red' | 'yellow' | 'green' | 'dim' | 'bold';
const ANSI: Record<Colour, string> = { red: '31', yellow: '33', green: '32', dim: '2', bold: '1' };

export function paint(text: string, colour: Colour | undefined, enabled: boolean): string {
  if (!enabled || colour === undefined || text === '') return text;
  return `\x1b[${ANSI[colour]}m${text}\x1b[0m`;
}

/** "label   value" lines of a section, labels padded to the longest. */
export function formatFields(fields: ReadonlyArray<readonly [string, string]>, indent = '  '): string[] {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`.trimEnd());
}
