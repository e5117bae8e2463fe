import { type Parsed, fail, ok, parseKeyedCounts, pickKeyedCounts, pickKeyedCountsInBytes } from './parse';

/**
 * memory.stat, parsed by key (keys move between kernels; never by position).
 *
 * v1 (hierarchical totals are the `total_` keys; the unprefixed ones are this cgroup alone):
 *   cache 0\nrss 32845824\n...\ntotal_rss 32845824\ntotal_inactive_file 0\n...
 * v2 (always hierarchical):
 *   anon 32768000\nfile 4096\n...\nfile_mapped 0\n...\ninactive_file 4096\n...
 */
/** The figures oomwatch exports from memory.stat. */
export interface MemoryStatFigures {
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
}

export interface MemoryStat extends MemoryStatFigures {
  /** Every key as written, for the CLI's breakdown. */
  readonly raw: Map<string, number>;
}

/**
 * Only the figures, as a small object of their own: a sample lives until the next poll, and keeping the
 * MemoryStat would keep the file's text (for `raw`) alive with it.
 */
export function memoryStatFigures(stat: MemoryStat): MemoryStatFigures {
  const out: MemoryStatFigures = {
    rss: stat.rss,
    cache: stat.cache,
    mappedFile: stat.mappedFile,
    inactiveFile: stat.inactiveFile,
  };
  if (stat.swap !== undefined) out.swap = stat.swap;
  return out;
}

const V1_KEYS = {
  rss: 'total_rss',
  cache: 'total_cache',
  mappedFile: 'total_mapped_file',
  inactiveFile: 'total_inactive_file',
  swap: 'total_swap',
};
const V2_KEYS = {
  rss: 'anon',
  cache: 'file',
  mappedFile: 'file_mapped',
  inactiveFile: 'inactive_file',
  swap: undefined,
};

// The keys looked up, in this order; v1 also has the local keys for cgroups without hierarchy (use_hierarchy=0,
// or a kernel older than the total_ keys).
const V1_PICK = [
  'total_rss',
  'total_cache',
  'total_mapped_file',
  'total_inactive_file',
  'total_swap',
  'rss',
  'cache',
  'mapped_file',
  'inactive_file',
  'swap',
];
const V2_PICK = ['anon', 'file', 'file_mapped', 'inactive_file'];

export function parseMemoryStat(text: string, version: 1 | 2): Parsed<MemoryStat> {
  const picked = pickKeyedCounts(text, version === 1 ? V1_PICK : V2_PICK);
  if (!picked.ok) return picked;
  const v = picked.value;
  // v1 falls back to the local key (5 places further) when the total_ key is absent.
  const get = (i: number): number | undefined => v[i] ?? (version === 1 ? v[i + 5] : undefined);
  const keys = version === 1 ? V1_KEYS : V2_KEYS;
  const rss = get(0);
  const cache = get(1);
  if (rss === undefined || cache === undefined) {
    return fail(`memory.stat has no ${rss === undefined ? keys.rss : keys.cache} key`);
  }
  const stat = new ParsedMemoryStat(text, rss, cache, get(2) ?? 0, get(3) ?? 0);
  const swap = version === 1 ? get(4) : undefined;
  if (swap !== undefined) stat.swap = swap;
  return ok(stat);
}

const V1_PICK_BYTES = V1_PICK.map((k) => Buffer.from(k, 'latin1'));
const V2_PICK_BYTES = V2_PICK.map((k) => Buffer.from(k, 'latin1'));

/** The values picked from one memory.stat, used at once: one array for every call. */
const picked = new Array<number | undefined>(V1_PICK.length);

/**
 * The figures straight from memory.stat's bytes (see pickKeyedCountsInBytes), or undefined when the file is
 * anything but well formed with the keys present: then parseMemoryStat on the text gives the figures or the
 * error. On every file it accepts, the figures are those of memoryStatFigures(parseMemoryStat(text)).
 *
 * `into`, when given, is filled and returned instead of a new object: the poller keeps one per container and
 * rewrites it at each poll. On undefined, `into` is left as it was.
 */
export function memoryStatFiguresInBytes(
  bytes: Buffer,
  length: number,
  version: 1 | 2,
  into?: MemoryStatFigures,
): MemoryStatFigures | undefined {
  const v = pickKeyedCountsInBytes(bytes, length, version === 1 ? V1_PICK_BYTES : V2_PICK_BYTES, picked);
  if (v === undefined) return undefined;
  // v1 falls back to the local key (5 places further) when the total_ key is absent.
  const rss = v[0] ?? (version === 1 ? v[5] : undefined);
  const cache = v[1] ?? (version === 1 ? v[6] : undefined);
  if (rss === undefined || cache === undefined) return undefined;
  const mappedFile = v[2] ?? (version === 1 ? v[7] : undefined) ?? 0;
  const inactiveFile = v[3] ?? (version === 1 ? v[8] : undefined) ?? 0;
  const swap = version === 1 ? (v[4] ?? v[9]) : undefined;
  const out = into ?? { rss, cache, mappedFile, inactiveFile };
  if (into !== undefined) {
    into.rss = rss;
    into.cache = cache;
    into.mappedFile = mappedFile;
    into.inactiveFile = inactiveFile;
  }
  if (swap !== undefined) out.swap = swap;
  else if (into !== undefined) delete into.swap;
  return out;
}

class ParsedMemoryStat implements MemoryStat {
  swap?: number;
  private rawMap: Map<string, number> | undefined;

  constructor(
    private readonly text: string,
    readonly rss: number,
    readonly cache: number,
    readonly mappedFile: number,
    readonly inactiveFile: number,
  ) {}

  /** Built from the text on first use: the poller reads five keys, only the CLI wants them all. */
  get raw(): Map<string, number> {
    if (this.rawMap === undefined) {
      const parsed = parseKeyedCounts(this.text);
      // The text was checked line by line when the stat was parsed.
      this.rawMap = parsed.ok ? parsed.value : new Map();
    }
    return this.rawMap;
  }
}
