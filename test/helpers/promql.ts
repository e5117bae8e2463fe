/**
 * Just enough PromQL lexing to list the metric names a query selects, so the deployment files can be
 * checked against what oomwatch exports. Parsing proper is left to Prometheus (promtool check rules, or
 * the query API of a running server): this only has to find selectors, never to judge syntax.
 */

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
]);

/** Metric names selected by a PromQL expression, e.g. `rate(foo_total{a="b"}[5m]) / bar` -> foo_total, bar. */
export function selectedMetrics(expr: string): string[] {
  const text = expr
    // strings (label values, label_replace arguments) may hold anything
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // comments
    .replace(/#[^\n]*/g, '')
    // label matchers and range / subquery brackets
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // label lists of aggregations and vector matching
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  const ident = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (const m of text.matchAll(ident)) {
    const name = m[0];
    const start = m.index ?? 0;
    const before = start > 0 ? (text[start - 1] as string) : '';
    // part of a number such as 1e3 or a duration such as 5m after offset
    if (/[0-9.]/.test(before)) continue;
    const after = text.slice(start + name.length).trimStart();
    if (after.startsWith('(')) continue; // a function or an aggregation
    if (KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}
