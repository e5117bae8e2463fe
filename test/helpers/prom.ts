/**
 * Test helpers for reading a scrape the way a user reads it: parse the Prometheus text format into
 * samples and look series up by name and labels.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(LABEL)) {
      labels[lm[1] as string] = (lm[2] as string)
        .replace(/\\n/g, '\n')
        .replace(/\\"/g, '"')
        .replace(/\\\\/g, '\\');
    }
    const raw = m[3] as string;
    out.push({
      name: m[1] as string,
      labels,
      value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw),
    });
  }
  return out;
}

/** All samples of `name` whose labels include `match`. */
export function findSamples(
  samples: PromSample[],
  name: string,
  match: Record<string, string> = {},
): PromSample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The single value of `name{match}`, or undefined when the series is absent. Throws when several match. */
export function valueOf(
  samples: PromSample[],
  name: string,
  match: Record<string, string> = {},
): number | undefined {
  const found = findSamples(samples, name, match);
  if (found.length > 1) throw new Error(`${found.length} series match ${name}${JSON.stringify(match)}`);
  return found[0]?.value;
}
