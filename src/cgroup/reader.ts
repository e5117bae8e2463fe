import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupLayout } from './layout';
import { type MemoryEvents, memoryEventsInBytes, parseMemoryEvents } from './memory-events';
import {
  type MemoryStatFigures,
  memoryStatFigures,
  memoryStatFiguresInBytes,
  parseMemoryStat,
} from './memory-stat';
import { type OomControl, oomControlInBytes, parseOomControl } from './oom-control';
import { type Parsed, parseCount, parseLimit } from './parse';
import { type Pressure, parsePressure, pressureInBytes } from './pressure';
import { type MemorySample, type SampleError, clearSample } from './sample';
import { flatString } from '../flat-string';

/**
 * Reads one container's memory cgroup files into a MemorySample.
 *
 * Each file is opened once and kept open; every poll re-reads it with pread at offset 0 (cgroup files
 * regenerate their content on each read from offset 0), which costs one syscall per file instead of
 * three. Reads are synchronous on purpose: a cgroup read never blocks on a disk, and a synchronous pread
 * costs a fraction of a thread-pool round trip. The poller reads containers in small batches and yields
 * to the event loop between them, so a scrape is never held up for long.
 *
 * When the process is out of descriptors (see FdBudget), files are opened, read and closed each time.
 */

export type Root = 'memory' | 'pressure';

interface FileSpec {
  file: string;
  root: Root;
  /** The sample field the file's one integer goes to, for files that hold one (see fileOf). */
  sets?: keyof MemorySample;
  /** Absent on some kernels or configurations (swap accounting off, kernel before 5.19...). */
  optional: boolean;
  /** For an optional file, why a kernel would not have it and what oomwatch then does not export. */
  absentMeans?: string;
  /**
   * A setting (a limit, a reservation, memory.oom.group), not a figure: it changes when someone changes the
   * container, not as it runs, so it is read every SETTINGS_MAX_AGE_MS and when told it changed, not at every poll.
   */
  setting?: true;
  /**
   * A counter that moves only when this container's own limit (`limit`, or v1's memory+swap limit) is hit: the
   * kernel counts a failed charge in the counter whose limit refused it, never in a descendant's. While that
   * limit is unlimited the count cannot move, so the file is read with the settings (every
   * SETTINGS_MAX_AGE_MS, and when told the settings changed) and its last value carried in between. A limit
   * set behind oomwatch's back is seen at the next settings read, and the count read then holds every hit.
   */
  countsPast?: 'limit' | 'memswLimit';
  apply(sample: MemorySample, text: string, scratch: Scratch): Parsed<unknown>;
  /**
   * For files that hold one integer: what `apply` does with the value, given the value read straight from
   * the bytes (no string made). Anything the byte reader does not accept goes through `apply`.
   */
  integer?: { unit: IntegerUnit; set(sample: MemorySample, value: number, scratch: Scratch): void };
  /** Takes a well-formed file straight from its bytes and returns true, or returns false for `apply`. */
  fromBytes?(sample: MemorySample, bytes: Buffer, length: number, scratch: Scratch): boolean;
}

/** A count (parseCount) or a byte value where the v1 sentinel means unlimited (parseLimit). */
type IntegerUnit = 'count' | 'limit';

/**
 * Values that only make sense combined with others, resolved after all files are read; and the objects of the
 * sample being rewritten in place (see CgroupReader.read), for the parsers to fill rather than replace.
 */
interface Scratch {
  memswLimit?: number;
  memswFailcnt?: number;
  reuseStat?: MemoryStatFigures;
  reusePressure?: Pressure;
}

/** The one-integer fields of a sample a file can hold. */
type IntegerFieldName =
  'usage' | 'limit' | 'reservation' | 'high' | 'swap' | 'swapLimit' | 'peak' | 'limitHits' | 'swappiness';

/**
 * One setter per field, each its own function: a single `sample[field] = value` shared by every file would be
 * a store site that sees nine property names, which V8 handles through its slowest (megamorphic) path on
 * every file of every poll.
 */
const SETTERS: Record<IntegerFieldName, (s: MemorySample, value: number) => void> = {
  usage: (s, v) => {
    s.usage = v;
  },
  limit: (s, v) => {
    s.limit = v;
  },
  reservation: (s, v) => {
    s.reservation = v;
  },
  high: (s, v) => {
    s.high = v;
  },
  swap: (s, v) => {
    s.swap = v;
  },
  swapLimit: (s, v) => {
    s.swapLimit = v;
  },
  peak: (s, v) => {
    s.peak = v;
  },
  limitHits: (s, v) => {
    s.limitHits = v;
  },
  swappiness: (s, v) => {
    s.swappiness = v;
  },
};

/** `apply` and `integer` of a file whose one integer goes to one sample field. */
const integerField = (
  field: IntegerFieldName,
  unit: IntegerUnit,
): Pick<FileSpec, 'apply' | 'integer' | 'sets'> => {
  const set = SETTERS[field];
  const parse = unit === 'count' ? parseCount : parseLimit;
  return {
    sets: field,
    apply: (s, text) => {
      const r = parse(text);
      if (r.ok) set(s, r.value);
      return r;
    },
    integer: { unit, set },
  };
};

const integerScratch = (
  key: 'memswLimit' | 'memswFailcnt',
  unit: IntegerUnit,
): Pick<FileSpec, 'apply' | 'integer'> => ({
  apply: (_s, text, scratch) => {
    const r = unit === 'count' ? parseCount(text) : parseLimit(text);
    if (r.ok) scratch[key] = r.value;
    return r;
  },
  integer: {
    unit,
    set: (_s, value, scratch) => {
      scratch[key] = value;
    },
  },
});

/**
 * Every spec with every field, in one order, so that all have one hidden class: the poll's loop over them then
 * reads their fields through V8's fast (monomorphic) path rather than a lookup per field per file.
 */
function uniform(specs: FileSpec[]): FileSpec[] {
  return specs.map((f) => ({
    file: f.file,
    root: f.root,
    sets: f.sets,
    optional: f.optional,
    absentMeans: f.absentMeans,
    setting: f.setting,
    countsPast: f.countsPast,
    apply: f.apply,
    integer: f.integer,
    fromBytes: f.fromBytes,
  }));
}

const V1_FILES: FileSpec[] = uniform([
  { file: 'memory.usage_in_bytes', root: 'memory', optional: false, ...integerField('usage', 'count') },
  {
    file: 'memory.limit_in_bytes',
    root: 'memory',
    setting: true,
    optional: false,
    ...integerField('limit', 'limit'),
  },
  {
    file: 'memory.soft_limit_in_bytes',
    root: 'memory',
    setting: true,
    optional: true,
    absentMeans: 'the kernel has no soft limit: oomwatch_container_memory_reservation_bytes is not exported',
    ...integerField('reservation', 'limit'),
  },
  {
    file: 'memory.max_usage_in_bytes',
    root: 'memory',
    optional: true,
    absentMeans:
      "the kernel does not keep the cgroup's peak usage: oomwatch_container_memory_peak_bytes is not exported",
    ...integerField('peak', 'count'),
  },
  {
    file: 'memory.memsw.limit_in_bytes',
    root: 'memory',
    setting: true,
    optional: true,
    absentMeans:
      'swap accounting is off (boot with swapaccount=1; the kernel needs CONFIG_MEMCG_SWAP): oomwatch_container_memory_swap_limit_bytes is not exported',
    ...integerScratch('memswLimit', 'limit'),
  },
  {
    file: 'memory.stat',
    root: 'memory',
    optional: false,
    fromBytes: (s, bytes, length, scratch) => {
      const figures = memoryStatFiguresInBytes(bytes, length, 1, scratch.reuseStat);
      if (figures === undefined) return false;
      s.stat = figures;
      if (figures.swap !== undefined) s.swap = figures.swap;
      return true;
    },
    apply: (s, text) => {
      const r = parseMemoryStat(text, 1);
      if (r.ok) {
        s.stat = memoryStatFigures(r.value);
        if (r.value.swap !== undefined) s.swap = r.value.swap;
      }
      return r;
    },
  },
  {
    file: 'memory.oom_control',
    root: 'memory',
    optional: false,
    fromBytes: (s, bytes, length) => {
      const oc = oomControlInBytes(bytes, length, oomControlScratch);
      if (oc !== undefined) applyOomControl(s, oc);
      return oc !== undefined;
    },
    apply: (s, text) => {
      const r = parseOomControl(text);
      if (r.ok) applyOomControl(s, r.value);
      return r;
    },
  },
  {
    file: 'memory.failcnt',
    root: 'memory',
    optional: true,
    countsPast: 'limit',
    absentMeans:
      'the kernel does not count limit hits for the cgroup: oomwatch_container_memory_limit_hits_total is not exported',
    ...integerField('limitHits', 'count'),
  },
  {
    // With swap accounting the kernel charges memory+swap first: a charge that fails there counts in
    // memsw.failcnt and never reaches the memory counter, so a limit without swap allowance
    // (docker --memory-swap equal to --memory) is hit without memory.failcnt moving.
    file: 'memory.memsw.failcnt',
    root: 'memory',
    optional: true,
    countsPast: 'memswLimit',
    absentMeans:
      'swap accounting is off (boot with swapaccount=1; the kernel needs CONFIG_MEMCG_SWAP): limit hits count memory.failcnt alone',
    ...integerScratch('memswFailcnt', 'count'),
  },
  {
    file: 'memory.pressure',
    root: 'pressure',
    optional: true,
    absentMeans:
      'pressure stall information is off (boot with psi=1; the kernel needs CONFIG_PSI): the oomwatch_container_memory_pressure_* counters are not exported',
    fromBytes: pressureFromBytes,
    apply: applyPressure,
  },
]);

const V2_FILES: FileSpec[] = uniform([
  { file: 'memory.current', root: 'memory', optional: false, ...integerField('usage', 'count') },
  { file: 'memory.max', root: 'memory', setting: true, optional: false, ...integerField('limit', 'limit') },
  {
    file: 'memory.low',
    root: 'memory',
    setting: true,
    optional: true,
    absentMeans: 'the kernel has no memory.low: oomwatch_container_memory_reservation_bytes is not exported',
    ...integerField('reservation', 'limit'),
  },
  {
    file: 'memory.high',
    root: 'memory',
    setting: true,
    optional: true,
    absentMeans: 'the kernel has no memory.high: oomwatch_container_memory_high_bytes is not exported',
    ...integerField('high', 'limit'),
  },
  {
    file: 'memory.swap.current',
    root: 'memory',
    optional: true,
    absentMeans:
      'the kernel keeps no swap accounting for cgroups (CONFIG_MEMCG_SWAP off, or swapaccount=0): oomwatch_container_memory_swap_bytes is not exported',
    ...integerField('swap', 'count'),
  },
  {
    file: 'memory.swap.max',
    root: 'memory',
    setting: true,
    optional: true,
    absentMeans:
      'the kernel keeps no swap accounting for cgroups (CONFIG_MEMCG_SWAP off, or swapaccount=0): oomwatch_container_memory_swap_limit_bytes is not exported',
    ...integerField('swapLimit', 'limit'),
  },
  {
    file: 'memory.peak',
    root: 'memory',
    optional: true,
    absentMeans:
      'the kernel is older than 5.19, which added memory.peak: oomwatch_container_memory_peak_bytes is not exported',
    ...integerField('peak', 'count'),
  },
  {
    file: 'memory.stat',
    root: 'memory',
    optional: false,
    fromBytes: (s, bytes, length, scratch) => {
      const figures = memoryStatFiguresInBytes(bytes, length, 2, scratch.reuseStat);
      if (figures === undefined) return false;
      s.stat = figures;
      return true;
    },
    apply: (s, text) => {
      const r = parseMemoryStat(text, 2);
      if (r.ok) s.stat = memoryStatFigures(r.value);
      return r;
    },
  },
  {
    file: 'memory.events',
    root: 'memory',
    optional: false,
    fromBytes: (s, bytes, length) => {
      const e = memoryEventsInBytes(bytes, length);
      if (e !== undefined) applyMemoryEvents(s, e);
      return e !== undefined;
    },
    apply: (s, text) => {
      const r = parseMemoryEvents(text);
      if (r.ok) applyMemoryEvents(s, r.value);
      return r;
    },
  },
  {
    file: 'memory.oom.group',
    root: 'memory',
    setting: true,
    optional: true,
    absentMeans: 'the kernel is older than 4.19, which added memory.oom.group: no kill is a group kill',
    apply: (s, text) => {
      const r = parseCount(text);
      if (r.ok) s.oomGroup = r.value !== 0;
      return r;
    },
    integer: {
      unit: 'count',
      set: (s, value) => {
        s.oomGroup = value !== 0;
      },
    },
  },
  {
    file: 'memory.pressure',
    root: 'pressure',
    optional: true,
    absentMeans:
      'pressure stall information is off (boot with psi=1; the kernel needs CONFIG_PSI): the oomwatch_container_memory_pressure_* counters are not exported',
    fromBytes: pressureFromBytes,
    apply: applyPressure,
  },
]);

/**
 * Files no poll reads: settings the on-call commands show when they look at one container, read once through
 * readFields. v1 memory.swappiness decides, with the swap limits, whether the container can swap at all.
 */
const V1_ON_DEMAND: FileSpec[] = [
  { file: 'memory.swappiness', root: 'memory', optional: true, ...integerField('swappiness', 'count') },
];
const V2_ON_DEMAND: FileSpec[] = [];

/** The files read for each container, in read order, and the tree each lives in (memory or pressure). */
export function filesReadPerContainer(version: 1 | 2): ReadonlyArray<{ file: string; root: Root }> {
  return (version === 1 ? V1_FILES : V2_FILES).map(({ file, root }) => ({ file, root }));
}

/** The file that holds `field` on this cgroup version (`limit`: memory.limit_in_bytes or memory.max), if one does. */
export function fileOf(version: 1 | 2, field: keyof MemorySample): string | undefined {
  return specsOf(version).find((s) => s.sets === field)?.file;
}

function specsOf(version: 1 | 2): FileSpec[] {
  return version === 1 ? [...V1_FILES, ...V1_ON_DEMAND] : [...V2_FILES, ...V2_ON_DEMAND];
}

/**
 * The given one-integer fields of a cgroup, read once through the file table (the same files and parsers as a
 * poll), without a kept reader: for the few values the on-call commands read apart from a poll, such as the
 * limits of a container's ancestors or memory.swappiness. A field whose file is absent on this version or in
 * this cgroup, unreadable or malformed is left out: each caller says what a missing value means.
 */
export function readFields(
  layout: CgroupLayout,
  cgroupPath: string,
  fields: ReadonlyArray<keyof MemorySample>,
): Partial<MemorySample> {
  // The table's parsers fill a MemorySample; this one has no read time, only the fields asked for.
  const values: Partial<MemorySample> = {};
  for (const spec of specsOf(layout.version)) {
    if (spec.sets === undefined || !fields.includes(spec.sets)) continue;
    const root = spec.root === 'memory' ? layout.memoryRoot : layout.pressureRoot;
    if (root === undefined) continue;
    let text: string;
    try {
      text = fs.readFileSync(path.join(root, cgroupPath, spec.file), 'latin1');
    } catch {
      continue;
    }
    spec.apply(values as MemorySample, text, {});
  }
  return values;
}

function applyMemoryEvents(s: MemorySample, e: MemoryEvents): void {
  if (e.oomKill !== undefined) s.oomKills = e.oomKill;
  if (e.max !== undefined) s.limitHits = e.max;
  if (e.high !== undefined) s.highEvents = e.high;
  if (e.oom !== undefined) s.oomEvents = e.oom;
  if (e.oomGroupKill !== undefined) s.oomGroupKills = e.oomGroupKill;
}

/** The oom_control values of the file just read, copied into the sample at once. */
const oomControlScratch: OomControl = { oomKillDisable: false, underOom: false };

function applyOomControl(s: MemorySample, oc: OomControl): void {
  s.oomKillDisabled = oc.oomKillDisable;
  s.underOom = oc.underOom;
  if (oc.oomKill !== undefined) s.oomKills = oc.oomKill;
}

function pressureFromBytes(s: MemorySample, bytes: Buffer, length: number, scratch: Scratch): boolean {
  const p = pressureInBytes(bytes, length, scratch.reusePressure);
  if (p === undefined) return false;
  s.pressure = p;
  return true;
}

function applyPressure(s: MemorySample, text: string): Parsed<unknown> {
  const r = parsePressure(text);
  if (r.ok) s.pressure = r.value;
  return r;
}

/** Shares the process's descriptor allowance between all readers. */
export class FdBudget {
  private used = 0;
  private overflow = 0;
  constructor(readonly limit: number) {}

  /** The soft RLIMIT_NOFILE minus room for sockets, the state database and the runtime's own files. */
  static fromProcessLimits(reserve = 512): FdBudget {
    let soft = 1024;
    try {
      const line = fs
        .readFileSync('/proc/self/limits', 'latin1')
        .split('\n')
        .find((l) => l.startsWith('Max open files'));
      const n = Number(line?.split(/\s+/)[3]);
      if (Number.isFinite(n) && n > 0) soft = n;
    } catch {
      // not Linux or /proc not mounted: keep the conservative default
    }
    return new FdBudget(Math.max(0, soft - reserve));
  }

  take(): boolean {
    if (this.used >= this.limit) return false;
    this.used++;
    return true;
  }
  give(): void {
    this.used = Math.max(0, this.used - 1);
  }
  get inUse(): number {
    return this.used;
  }

  /** Files read without a kept descriptor (opened, read and closed on every poll) because none was left. */
  get overflowing(): number {
    return this.overflow;
  }
  /** A reader reads one file without a kept descriptor from now on (+1), or no longer does (-1). */
  noteOverflow(delta: 1 | -1): void {
    this.overflow = Math.max(0, this.overflow + delta);
  }
}

const NOT_OPEN = -1;
/** A file known to be absent on this kernel: not retried every poll. */
const ABSENT = -2;
/** No descriptor to keep: open, read and close each time. */
const TRANSIENT = -3;

let shared = Buffer.allocUnsafe(16384);

/** The errors of a read that had none (frozen: one array shared by every such read). */
const NO_ERRORS = Object.freeze([]) as unknown as SampleError[];

/** The scratch of the read in progress: reads are synchronous, one at a time. */
const scratch: Scratch = {};

/** Read a whole cgroup file through a descriptor with pread at offset 0, into `shared`; returns its length. */
function preadAll(fd: number): number {
  let total = fs.readSync(fd, shared, 0, shared.length, 0);
  while (total === shared.length) {
    const bigger = Buffer.allocUnsafe(shared.length * 2);
    shared.copy(bigger);
    shared = bigger;
    total += fs.readSync(fd, shared, total, shared.length - total, total);
  }
  return total;
}

/** Past the descriptor budget: open, one read, close (readFileSync would add an fstat and a second read). */
function readTransient(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    return preadAll(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** 5e18 is above 2^62, the least value parseLimit takes for the unlimited sentinel, by more than rounding. */
const SURELY_UNLIMITED = 5e18;

/**
 * The integer in `shared[0, length)` when the file is just digits and a newline, read from the bytes: most
 * files of a poll are one integer, and making a string of each costs more than the read. Undefined for
 * anything else ("max", spaces, a sign, 16 to 18 digits), which the text parser then handles; on what it
 * accepts the result is the text parser's.
 */
function integerInShared(length: number, unit: IntegerUnit): number | undefined {
  const end = length > 0 && shared[length - 1] === 0x0a ? length - 1 : length;
  if (end === 0 || end > 19) return undefined;
  let n = 0;
  for (let i = 0; i < end; i++) {
    const d = (shared[i] as number) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  if (end <= 15) return n; // exact: below 2^53
  // Longer: only v1's unlimited sentinel (19 digits) is common; other values go to the text parser.
  return unit === 'limit' && n >= SURELY_UNLIMITED ? Infinity : undefined;
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENODEV' || code === 'ESTALE';
}

export interface ReadResult {
  /** The cgroup no longer exists: the container is gone (normal churn, not an error). */
  vanished: boolean;
  /**
   * The cgroup was removed and created again at the same path since the last read (a container restarted
   * under the same id): its counters start again from 0. Seen as kept descriptors going stale.
   */
  recreated: boolean;
  sample: MemorySample;
  errors: SampleError[];
  /**
   * Optional files found missing at this read, for the first time for this reader (they are not looked for
   * again): what the kernel or its configuration does not provide, and what is therefore not exported.
   */
  absent?: AbsentFile[];
}

/** An optional cgroup file the kernel does not provide. */
export interface AbsentFile {
  file: string;
  /** Why a kernel would not have it and what oomwatch then does not export. */
  means: string;
}

/** How old a container's settings (limits, reservation, memory.oom.group) may get before they are read again. */
export const SETTINGS_MAX_AGE_MS = 30_000;

/** The settings of a container as last read, carried into the samples of the polls that do not read them. */
interface Settings {
  limit?: number;
  reservation?: number;
  high?: number;
  swapLimit?: number;
  oomGroup?: boolean;
  memswLimit?: number;
}

export class CgroupReader {
  private readonly specs: FileSpec[];
  private readonly fds: number[];
  private readonly dirs: Record<Root, string | undefined>;
  /** A kept descriptor went stale during this read and the file opened again: a new cgroup at the path. */
  private reopenedStale = false;
  private settings: Settings | undefined;
  private settingsReadAtMs = -Infinity;

  constructor(
    layout: CgroupLayout,
    readonly cgroupPath: string,
    private readonly budget: FdBudget,
  ) {
    this.specs = layout.version === 1 ? V1_FILES : V2_FILES;
    this.fds = this.specs.map(() => NOT_OPEN);
    this.dirs = {
      memory: flatString(path.join(layout.memoryRoot, cgroupPath)),
      pressure:
        layout.pressureRoot === undefined
          ? undefined
          : flatString(path.join(layout.pressureRoot, cgroupPath)),
    };
  }

  get memoryDir(): string {
    return this.dirs.memory as string;
  }

  /** The container's settings changed (Docker reported an update): read them at the next read. */
  settingsChanged(): void {
    this.settings = undefined;
  }

  /**
   * One reading of the container's files. Its figures are read every time; its settings (limits, reservation,
   * memory.oom.group) when they are older than SETTINGS_MAX_AGE_MS, after settingsChanged(), and when the cgroup
   * turns out to be a new one at the same path; otherwise the sample carries the settings last read.
   *
   * `into`: a sample to rewrite in place rather than a new one (its memory.stat figures and pressure objects
   * too). The poller passes each container's last sample: a poll then leaves no object behind per container,
   * and nothing the previous poll made survives into the old generation of the heap, whose collection
   * was the largest cost of a poll after the reads themselves. A field whose file fails is undefined in it.
   */
  read(now: number = Date.now(), into?: MemorySample): ReadResult {
    scratch.memswLimit = undefined;
    scratch.memswFailcnt = undefined;
    scratch.reuseStat = into?.stat;
    scratch.reusePressure = into?.pressure;
    const sample = into === undefined ? { readAtMs: now } : clearSample(into, now);
    this.errors = undefined;
    let absent: AbsentFile[] | undefined;
    const cached = this.settings;
    const settingsDue = cached === undefined || now - this.settingsReadAtMs >= SETTINGS_MAX_AGE_MS;
    const figures = this.readPass(false, settingsDue ? undefined : cached, sample);
    if (figures === 'vanished') return { vanished: true, recreated: false, sample, errors: [] };
    if (figures !== undefined) absent = figures;
    if (settingsDue || this.reopenedStale) {
      const errorsBefore = this.errorCount();
      const settings = this.readPass(true, undefined, sample);
      if (settings === 'vanished') return { vanished: true, recreated: false, sample, errors: [] };
      if (settings !== undefined) absent = [...(absent ?? []), ...settings];
      // A settings file that failed is read again at the next poll, not carried as missing for 30 s.
      if (this.errorCount() === errorsBefore) {
        this.settings = settingsOf(sample, scratch);
        this.settingsReadAtMs = now;
      } else {
        this.settings = undefined;
      }
    } else {
      applySettings(cached, sample, scratch);
    }
    derive(sample, scratch);
    scratch.reuseStat = undefined;
    scratch.reusePressure = undefined;
    const recreated = this.reopenedStale;
    this.reopenedStale = false;
    const errors = this.errors ?? NO_ERRORS;
    this.errors = undefined;
    return absent === undefined
      ? { vanished: false, recreated, sample, errors }
      : { vanished: false, recreated, sample, errors, absent };
  }

  /**
   * Read the settings files (`settings`) or every other file into the sample. Returns 'vanished' when the
   * cgroup is gone, the optional files found missing for the first time, or undefined.
   *
   * In the figures pass, `unlimited` are the settings carried into this read (undefined when the settings are
   * read in this one): a countsPast file whose limit they show unlimited is not read, its last count carried,
   * and the settings pass reads it with the settings.
   */
  private readPass(
    settings: boolean,
    unlimited: Settings | undefined,
    sample: MemorySample,
  ): AbsentFile[] | 'vanished' | undefined {
    let absent: AbsentFile[] | undefined;
    for (let i = 0; i < this.specs.length; i++) {
      const spec = this.specs[i] as FileSpec;
      const past = spec.countsPast;
      if (settings) {
        if (spec.setting !== true && (past === undefined || !this.carried(i))) continue;
      } else {
        if (spec.setting === true) continue;
        if (past !== undefined && unlimited !== undefined && unlimited[past] === Infinity) {
          this.carry(i, spec, sample);
          continue;
        }
        if (past !== undefined) this.uncarry(i);
      }
      if (this.dirs[spec.root] === undefined || this.fds[i] === ABSENT) continue;
      let length: number;
      try {
        length = this.readFileReopening(i);
      } catch (err) {
        if (isGone(err)) {
          if (!fs.existsSync(this.dirs.memory as string)) {
            this.reopenedStale = false;
            this.settings = undefined;
            return 'vanished';
          }
          if (spec.optional) {
            this.fds[i] = ABSENT;
            (absent ??= []).push({
              file: spec.file,
              means: spec.absentMeans ?? 'not provided by this kernel',
            });
            continue;
          }
          this.failed({ file: spec.file, kind: 'missing_file', message: `${this.pathOf(i)} is missing` });
          continue;
        }
        const e = err as NodeJS.ErrnoException;
        this.failed({
          file: spec.file,
          kind: 'read',
          message: `cannot read ${this.pathOf(i)}: ${e.code ?? e.message}`,
        });
        this.closeOne(i);
        continue;
      }
      if (spec.integer !== undefined) {
        const value = integerInShared(length, spec.integer.unit);
        if (value !== undefined) {
          spec.integer.set(sample, value, scratch);
          if (past !== undefined) this.counts[i] = value;
          continue;
        }
      }
      if (past !== undefined) this.counts[i] = undefined; // not carried: read again at the next poll
      if (spec.fromBytes?.(sample, shared, length, scratch) === true) continue;
      const parsed = spec.apply(sample, shared.toString('latin1', 0, length), scratch);
      if (!parsed.ok)
        this.failed({ file: spec.file, kind: 'parse', message: `${this.pathOf(i)}: ${parsed.error}` });
    }
    return absent;
  }

  /** The errors of the read in progress, made at the first one: most reads have none. */
  private errors: SampleError[] | undefined;

  private errorCount(): number {
    return this.errors?.length ?? 0;
  }

  private failed(e: SampleError): void {
    (this.errors ??= []).push(e);
  }

  /** Last counts of the countsPast files, by file index: what a poll that does not read them carries. */
  private readonly counts: Array<number | undefined> = [];
  /** Bit i: file i was not read by this poll's figures pass (see readPass). */
  private carriedFiles = 0;

  private carried(i: number): boolean {
    return (this.carriedFiles & (1 << i)) !== 0;
  }

  /** File i is not read in this figures pass: the sample gets its last count, and the settings pass reads it if due. */
  private carry(i: number, spec: FileSpec, sample: MemorySample): void {
    this.carriedFiles |= 1 << i;
    const last = this.counts[i];
    if (last !== undefined) spec.integer?.set(sample, last, scratch);
  }

  private uncarry(i: number): void {
    this.carriedFiles &= ~(1 << i);
  }

  /**
   * A kept descriptor goes stale (ENODEV) when the cgroup is removed; a container restarted under the
   * same id gets a new cgroup at the same path, so a stale descriptor is reopened once before giving up.
   */
  private readFileReopening(i: number): number {
    const hadDescriptor = (this.fds[i] as number) >= 0;
    try {
      return this.readFile(i);
    } catch (err) {
      if (!hadDescriptor || !isGone(err)) throw err;
      this.closeOne(i);
      const length = this.readFile(i);
      this.reopenedStale = true;
      return length;
    }
  }

  /**
   * A file's path, made when it is needed (opening, or reading past the descriptor budget) rather than kept:
   * ten paths per container were a third of the memory a container costs.
   */
  private pathOf(i: number): string {
    const spec = this.specs[i] as FileSpec;
    return `${this.dirs[spec.root] as string}/${spec.file}`;
  }

  /** Read the file into `shared`; returns its length. */
  private readFile(i: number): number {
    let fd = this.fds[i] as number;
    if (fd === TRANSIENT) return readTransient(this.pathOf(i));
    if (fd === NOT_OPEN) {
      if (!this.budget.take()) {
        this.fds[i] = TRANSIENT;
        this.budget.noteOverflow(1);
        return readTransient(this.pathOf(i));
      }
      try {
        fd = fs.openSync(this.pathOf(i), 'r');
      } catch (err) {
        this.budget.give();
        throw err;
      }
      this.fds[i] = fd;
    }
    return preadAll(fd);
  }

  private closeOne(i: number): void {
    const fd = this.fds[i] as number;
    if (fd >= 0) {
      try {
        fs.closeSync(fd);
      } catch {
        // the descriptor is released by the kernel either way
      }
      this.budget.give();
    }
    if (fd === TRANSIENT) this.budget.noteOverflow(-1);
    this.fds[i] = NOT_OPEN;
  }

  /** Release every descriptor; the reader may be used again (it reopens lazily). */
  close(): void {
    for (let i = 0; i < this.fds.length; i++) if ((this.fds[i] as number) !== ABSENT) this.closeOne(i);
  }

  /** How many descriptors this reader keeps open. */
  get openFiles(): number {
    return this.fds.filter((fd) => fd >= 0).length;
  }
}

/** Values computed from several files. */
function settingsOf(sample: MemorySample, scratch: Scratch): Settings {
  const s: Settings = {};
  if (sample.limit !== undefined) s.limit = sample.limit;
  if (sample.reservation !== undefined) s.reservation = sample.reservation;
  if (sample.high !== undefined) s.high = sample.high;
  if (sample.swapLimit !== undefined) s.swapLimit = sample.swapLimit;
  if (sample.oomGroup !== undefined) s.oomGroup = sample.oomGroup;
  if (scratch.memswLimit !== undefined) s.memswLimit = scratch.memswLimit;
  return s;
}

function applySettings(s: Settings, sample: MemorySample, scratch: Scratch): void {
  if (s.limit !== undefined) sample.limit = s.limit;
  if (s.reservation !== undefined) sample.reservation = s.reservation;
  if (s.high !== undefined) sample.high = s.high;
  if (s.swapLimit !== undefined) sample.swapLimit = s.swapLimit;
  if (s.oomGroup !== undefined) sample.oomGroup = s.oomGroup;
  if (s.memswLimit !== undefined) scratch.memswLimit = s.memswLimit;
}

function derive(sample: MemorySample, scratch: Scratch): void {
  if (sample.usage !== undefined && sample.stat !== undefined) {
    // Working set as the kubelet and cAdvisor define it: what the kernel cannot drop without swapping.
    sample.workingSet = Math.max(0, sample.usage - sample.stat.inactiveFile);
  }
  if (sample.limitHits !== undefined && scratch.memswFailcnt !== undefined) {
    // Each failed charge counts in exactly one of the two counters (memory+swap is tried first).
    sample.limitHits += scratch.memswFailcnt;
  }
  if (scratch.memswLimit !== undefined && sample.limit !== undefined) {
    // v1's memsw limit covers memory plus swap; the swap allowance alone is the difference.
    sample.swapLimit = Number.isFinite(scratch.memswLimit)
      ? Math.max(0, scratch.memswLimit - (Number.isFinite(sample.limit) ? sample.limit : 0))
      : Infinity;
  }
}
