import { CONTAINER_FAMILIES, writeContainerFamilies } from '../../src/metrics/container-families';
import { ExpositionWriter } from '../../src/metrics/exposition';
import { SelfMetrics } from '../../src/metrics/self';
import { hostKillFamilies } from '../../src/metrics/host-families';
import { kmsgFamilies } from '../../src/metrics/kmsg-families';
import { ContainerEntry } from '../../src/state/containers';

/**
 * The metric names oomwatch exports, taken from its own family tables (not from a list kept here): the
 * per-container table, the exits and info families, the OOM ledger's host counters, the kernel-log
 * source's counters and the self metrics (process and Node.js metrics included). The real-Prometheus
 * suite adds the names of a real scrape.
 */
export function exportedMetricNames(): Set<string> {
  const w = new ExpositionWriter('prometheus');
  const entry = new ContainerEntry('0'.repeat(64), Date.now());
  entry.exits.set('137|true', 1);
  entry.lastVictim = { comm: 'sh', pid: 1, scope: 'container', timeMs: 0 };
  writeContainerFamilies(w, [entry]);
  hostKillFamilies({ scopes: { container: 0, system: 0, other: 0 } })(w);
  kmsgFamilies({ stats: { recordsRead: 0, recordsLost: 0, malformedRecords: 0, oomKillRecords: 0 } })(w);
  const text = w.finish();

  const names = new Set<string>(CONTAINER_FAMILIES.map((f) => f.name));
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) addFamily(names, m[1] as string, m[2] as string);
  return names;
}

/** Self metrics come from a prom-client registry; their names need the registry's async read. */
export async function exportedSelfMetricNames(): Promise<Set<string>> {
  const self = new SelfMetrics({ containerCounts: () => ({ present: 0, gone: 0 }) });
  const names = new Set<string>();
  for (const fam of await self.registry.getMetricsAsJSON()) addFamily(names, fam.name, String(fam.type));
  return names;
}

/** The sample names of a family as PromQL sees them (histograms and summaries have several). */
export function addFamily(names: Set<string>, family: string, type: string): void {
  if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(family + s);
  else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(family + s);
  else names.add(family);
}

export async function allExportedMetricNames(): Promise<Set<string>> {
  return new Set([...exportedMetricNames(), ...(await exportedSelfMetricNames())]);
}

/** Series Prometheus makes itself for every target. */
export const SCRAPE_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
