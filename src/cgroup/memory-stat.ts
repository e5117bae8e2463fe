import { type Parsed, fail, ok, parseKeyedCounts } from './parse';

/**
 * memory.stat, parsed by key (keys move between kernels; never by position).
 *
 * v1 (hierarchical totals are the `total_` keys; the unprefixed ones are this cgroup alone):
 *   cache 0\nrss 32845824\n...\ntotal_rss 32845824\ntotal_inactive_file 0\n...
 * v2 (always hierarchical):
 *   anon 32768000\nfile 4096\n...\nfile_mapped 0\n...\ninactive_file 4096\n...
 */
export interface MemoryStat {
  /** Anonymous memory: v1 total_rss, v2 anon. */
  rss: number;
  /** Page cache: v1 total_cache, v2 file. */
  cache: number;
  /** Memory-mapped file pages: v1 total_mapped_file, v2 file_mapped. */
  mappedFile: number;
  /** Page cache the kernel can drop first: v1 total_inactive_file, v2 inactive_file. */
  inactiveFile: number;
  /** Swapped-out anonymous memory as memory.stat reports it (v1 total_swap; absent without swap accounting). */
  swap?: number;
  /** Every key as written, for the CLI's breakdown. */
  raw: Map<string, number>;
}

const V1_KEYS = { rss: 'total_rss', cache: 'total_cache', mappedFile: 'total_mapped_file', inactiveFile: 'total_inactive_file', swap: 'total_swap' };
const V2_KEYS = { rss: 'anon', cache: 'file', mappedFile: 'file_mapped', inactiveFile: 'inactive_file', swap: undefined };

export function parseMemoryStat(text: string, version: 1 | 2): Parsed<MemoryStat> {
  const parsed = parseKeyedCounts(text);
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const keys = version === 1 ? V1_KEYS : V2_KEYS;
  // v1 without hierarchy (use_hierarchy=0, or a kernel older than the total_ keys) still has the local keys.
  const get = (key: string): number | undefined =>
    raw.get(key) ?? (version === 1 && key.startsWith('total_') ? raw.get(key.slice('total_'.length)) : undefined);
  const rss = get(keys.rss);
  const cache = get(keys.cache);
  if (rss === undefined || cache === undefined) {
    return fail(`memory.stat has no ${rss === undefined ? keys.rss : keys.cache} key`);
  }
  const stat: MemoryStat = {
    rss,
    cache,
    mappedFile: get(keys.mappedFile) ?? 0,
    inactiveFile: get(keys.inactiveFile) ?? 0,
    raw,
  };
  const swap = keys.swap === undefined ? undefined : get(keys.swap);
  if (swap !== undefined) stat.swap = swap;
  return ok(stat);
}
