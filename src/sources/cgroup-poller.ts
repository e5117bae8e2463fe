import type { Logger } from 'pino';
import type { CgroupHints, ContainerPath } from '../cgroup/container-path';
import { DiscoveryMemory, discoverContainers } from '../cgroup/discover';
import type { CgroupLayout } from '../cgroup/layout';
import { type AbsentFile, CgroupReader, type FdBudget } from '../cgroup/reader';
import type { MemorySample, SampleError } from '../cgroup/sample';
import type { Source } from '../source';
import type { ContainerEntry, ContainerTable } from '../state/containers';

/** What the poller tells the rest of oomwatch after each container read. */
export interface PollListener {
  /**
   * A container's cgroup oom_kill counter grew by `delta` between the read at `previousReadMs` and this one
   * (`previousReadMs` undefined: first read, the delta is every kill since the cgroup was created).
   */
  onCgroupOomKills?(
    entry: ContainerEntry,
    delta: number,
    sample: MemorySample,
    previousReadMs: number | undefined,
  ): void;
  /** A container's cgroup was read and it is gone, or it was not found by discovery. */
  onContainerGone?(entry: ContainerEntry, now: number): void;
  /** A poll finished; `dropped` are the containers whose series grace ran out. */
  onPollComplete?(now: number, dropped: string[]): void;
}

/**
 * What the poller reports about its own work (metrics/self.ts turns it into oomwatch_poll_duration_seconds,
 * oomwatch_polls_total, oomwatch_last_poll_timestamp_seconds and oomwatch_poll_errors_total).
 */
export interface PollReport {
  /** A poll ended, complete or not, after `seconds` of wall time. */
  pollTimed(seconds: number): void;
  /** A poll completed at `atMs`. */
  pollCompleted(atMs: number): void;
  /** A cgroup file (or the tree walk) failed. */
  pollError(kind: SampleError['kind'] | 'discovery'): void;
}

export interface PollerOptions {
  layout: CgroupLayout;
  table: ContainerTable;
  budget: FdBudget;
  log: Logger;
  report: PollReport;
  intervalMs: number;
  seriesGraceMs: number;
  listener?: PollListener;
  /** Containers read between two yields to the event loop. */
  batchSize?: number;
  /** What runtime sources know about cgroup paths beyond the patterns (the containerd source's). */
  hints?: CgroupHints;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Polls every container's memory cgroup on its own timer. A scrape never reads cgroup files: it renders
 * what the last poll stored. Polls never overlap: the next one is scheduled when the current one ends.
 */
export class Poller implements Source {
  readonly name = 'cgroup';
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private current: Promise<void> | undefined;
  private lastPollOk = false;
  private readonly loggedErrors = new Set<string>();
  /** What each cgroup directory was found to be, so a stable host's paths are parsed once. */
  private readonly discovery = new DiscoveryMemory();
  private warnedDescriptors = false;
  /** Optional cgroup files already said to be absent (once per file name, not per container). */
  private readonly saidAbsent = new Set<string>();
  /** Resolves after the first complete poll (for /readyz). */
  readonly firstPoll: Promise<void>;
  private resolveFirst!: () => void;
  ready = false;

  constructor(private readonly opts: PollerOptions) {
    this.firstPoll = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  get up(): boolean {
    return this.lastPollOk;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current?.catch(() => undefined);
    for (const e of this.opts.table.values()) e.reader?.close();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.current = this.pollOnce()
        .catch((err: unknown) => this.opts.log.error({ err }, 'poll failed'))
        .finally(() => this.schedule(Math.max(0, this.opts.intervalMs - (Date.now() - started))));
    }, delayMs);
    this.timer.unref?.();
  }

  /** One complete poll: discovery, then every container's files, then the grace sweep. */
  async pollOnce(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const startedNs = process.hrtime.bigint();
    try {
      const now = Date.now();
      const discovered = this.discover();
      if (discovered === undefined) {
        this.lastPollOk = false;
        return;
      }
      await this.readEach(this.admit(discovered, now));
      // A container whose cgroup vanished at its read may have been replaced by another in the same directory
      // (a restart in a pod) without the directory's link count moving: that directory is listed again now, and
      // the newcomers read in this poll.
      if (this.discovery.hasChanges) {
        const again = this.discover();
        if (again !== undefined)
          await this.readEach(this.admit(again, now).filter((e) => !discovered.has(e.id)));
      }

      const dropped = this.opts.table.sweep(Date.now(), this.opts.seriesGraceMs);
      for (const id of dropped) this.forgetErrors(id);
      this.opts.listener?.onPollComplete?.(Date.now(), dropped);
      this.warnIfOutOfDescriptors();
      this.opts.report.pollCompleted(Date.now());
      this.lastPollOk = true;
      if (!this.ready) {
        this.ready = true;
        this.resolveFirst();
      }
    } finally {
      this.opts.report.pollTimed(Number(process.hrtime.bigint() - startedNs) / 1e9);
      this.running = false;
    }
  }

  private discover(): Map<string, ContainerPath> | undefined {
    try {
      return discoverContainers(this.opts.layout.memoryRoot, undefined, this.discovery, this.opts.hints);
    } catch (err) {
      this.opts.report.pollError('discovery');
      this.opts.log.error({ err, root: this.opts.layout.memoryRoot }, 'cannot walk the cgroup tree');
      return undefined;
    }
  }

  /** Table entries (and readers) for the discovered containers; the others are marked gone. */
  private admit(discovered: Map<string, ContainerPath>, now: number): ContainerEntry[] {
    const { table, layout } = this.opts;
    const toRead: ContainerEntry[] = [];
    // values(), not entries: a [key, value] pair per container per poll is garbage for nothing (the id is in the path).
    for (const path of discovered.values()) {
      const entry = table.ensure(path.id, now);
      if (!entry.present) table.markPresent(entry, now);
      entry.lastSeenMs = now;
      if (entry.reader && entry.reader.cgroupPath !== path.cgroupPath) {
        entry.reader.close();
        entry.reader = undefined;
      }
      entry.setPath(path);
      entry.reader ??= new CgroupReader(layout, path.cgroupPath, this.opts.budget);
      toRead.push(entry);
    }
    for (const entry of table.values()) {
      if (entry.present && !discovered.has(entry.id)) this.gone(entry, now);
    }
    return toRead;
  }

  private async readEach(toRead: ContainerEntry[]): Promise<void> {
    const batch = this.opts.batchSize ?? 64;
    for (let i = 0; i < toRead.length; i++) {
      if (i > 0 && i % batch === 0) await yieldToEventLoop();
      const entry = toRead[i] as ContainerEntry;
      if (!entry.reader) continue; // marked gone meanwhile by an event
      this.readContainer(entry);
    }
  }

  /**
   * Past the descriptor budget a file is opened, read and closed on every poll: about three times the kernel
   * time of a kept descriptor (see the benchmark figures in the README). Said once, with the fix.
   */
  private warnIfOutOfDescriptors(): void {
    const { budget } = this.opts;
    if (this.warnedDescriptors || budget.overflowing === 0) return;
    this.warnedDescriptors = true;
    this.opts.log.warn(
      { keptOpen: budget.inUse, budget: budget.limit, reopenedEachPoll: budget.overflowing },
      `the open-files limit leaves room to keep ${budget.limit} cgroup files open and this host needs more: ` +
        `${budget.overflowing} files are opened, read and closed on every poll, which costs more CPU; ` +
        'raise the limit (docker run --ulimit nofile=65536:65536, LimitNOFILE= for systemd, ulimit -n)',
    );
  }

  private readContainer(entry: ContainerEntry): void {
    const reader = entry.reader as CgroupReader;
    // The last sample is rewritten in place: see CgroupReader.read.
    const result = reader.read(Date.now(), entry.sample);
    if (result.vanished) {
      this.discovery.changed(reader.cgroupPath);
      this.gone(entry, result.sample.readAtMs);
      return;
    }
    for (const e of result.errors) this.reportError(entry, e);
    if (result.absent) for (const a of result.absent) this.sayAbsent(entry, a);
    const s = result.sample;
    // A file that failed leaves only its own fields out of the sample, so only its series are dropped.
    entry.sample = s;
    if (result.recreated) restartCounters(entry);
    const previousReadMs = entry.lastReadMs;
    entry.lastReadMs = s.readAtMs;
    if (s.oomKills !== undefined) {
      const first = entry.cgroupOomKills.lastRaw === undefined;
      const delta = entry.cgroupOomKills.observe(s.oomKills);
      if (delta > 0)
        this.opts.listener?.onCgroupOomKills?.(entry, delta, s, first ? undefined : previousReadMs);
    }
    if (s.limitHits !== undefined) entry.limitHits.observe(s.limitHits);
    if (s.highEvents !== undefined) entry.highEvents.observe(s.highEvents);
    if (s.oomGroupKills !== undefined) entry.oomGroupKills.observe(s.oomGroupKills);
    if (s.pressure) {
      entry.pressureSomeUs.observe(s.pressure.some.totalMicroseconds);
      if (s.pressure.full) entry.pressureFullUs.observe(s.pressure.full.totalMicroseconds);
    }
  }

  /**
   * A file some kernels or configurations do not have (memory.peak before 5.19, swap files without swap
   * accounting, memory.pressure without PSI): said once, at info, so that a series missing on this host is
   * explained rather than a mystery.
   */
  private sayAbsent(entry: ContainerEntry, a: AbsentFile): void {
    if (this.saidAbsent.has(a.file)) return;
    this.saidAbsent.add(a.file);
    this.opts.log.info(
      { file: a.file, container: entry.labels.id },
      `${a.file} does not exist in this host's container cgroups: ${a.means} (said once for all containers)`,
    );
  }

  private gone(entry: ContainerEntry, now: number): void {
    this.opts.table.markGone(entry, now);
    this.opts.listener?.onContainerGone?.(entry, now);
  }

  private reportError(entry: ContainerEntry, e: SampleError): void {
    this.opts.report.pollError(e.kind);
    const key = `${entry.id}\0${e.file}\0${e.kind}`;
    if (this.loggedErrors.has(key)) return;
    this.loggedErrors.add(key);
    this.opts.log.warn(
      { container: entry.labels.id, name: entry.labels.name || undefined, file: e.file, kind: e.kind },
      `${e.message}; the series from this file are dropped until it reads again (logged once per container and file)`,
    );
  }

  private forgetErrors(id: string): void {
    for (const key of this.loggedErrors) if (key.startsWith(`${id}\0`)) this.loggedErrors.delete(key);
  }
}

/**
 * The cgroup was removed and created again at the same path between two polls (a container restarted under
 * the same id, faster than the poll interval): the kernel's counters count from 0 again, so the next reading
 * is added whole to the totals instead of being compared with the old cgroup's last value.
 */
function restartCounters(entry: ContainerEntry): void {
  for (const c of [
    entry.cgroupOomKills,
    entry.limitHits,
    entry.highEvents,
    entry.oomGroupKills,
    entry.pressureSomeUs,
    entry.pressureFullUs,
  ]) {
    if (c.lastRaw !== undefined) c.reset();
  }
}
