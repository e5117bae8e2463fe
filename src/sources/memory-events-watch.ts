import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { CgroupLayout } from '../cgroup/layout';
import { parseMemoryEvents } from '../cgroup/memory-events';
import type { MemorySample } from '../cgroup/sample';
import type { ContainerEntry, ContainerTable } from '../state/containers';
import type { Source } from '../source';

/**
 * Immediacy on cgroup v2: the kernel raises a file-modified event on memory.events when a counter in it
 * changes (cgroup-v2.rst: "A value change in this file generates a file modified event"), so each container's
 * memory.events is watched and re-read on change, and an oom_kill increase is counted at once rather than
 * at the next poll. A notification is never counted as an event: the kernel coalesces them (at most one per
 * 10 ms per file), so the file is re-read and the counter's change is what counts.
 *
 * cgroup v1 has no such notification without eventfd; there the kernel log and Docker events give the
 * immediacy. On v1 and hybrid hosts this source does nothing and reports up.
 */
/** Past chokidar's 50 ms per-file throttle. */
const TRAILING_READ_MS = 75;

export interface MemoryEventsListener {
  onCgroupOomKills(
    entry: ContainerEntry,
    delta: number,
    sample: MemorySample,
    previousReadMs: number | undefined,
  ): void;
}

export class MemoryEventsWatch implements Source {
  readonly name = 'memory_events_watch';
  private watcher: FSWatcher | undefined;
  /** Watched file -> container id. */
  private readonly watched = new Map<string, string>();
  /** Container id -> its watched file, and the sync that last wanted it. */
  private readonly byId = new Map<string, { cgroupPath: string; file: string; generation: number }>();
  private generation = 0;
  private failed = false;
  private readonly trailing = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly layout: CgroupLayout,
    private readonly table: ContainerTable,
    private readonly listener: MemoryEventsListener,
    private readonly log: Logger,
  ) {}

  get up(): boolean {
    return !this.failed;
  }

  get watchedFiles(): number {
    return this.watched.size;
  }

  async start(): Promise<void> {
    if (this.layout.version !== 2) return;
    // chokidar loads here, on cgroup v2 hosts only: v1 and hybrid hosts never watch.
    const { watch } = await import('chokidar');
    this.watcher = watch([], {
      ignoreInitial: true,
      persistent: false,
      // cgroup files do not change size or mtime the way regular files do: never poll, never wait for writes.
      usePolling: false,
      awaitWriteFinish: false,
      atomic: false,
    });
    this.watcher.on('change', (file: string) => {
      this.reread(file);
      this.scheduleTrailingRead(file);
    });
    this.watcher.on('error', (err: unknown) => {
      if (!this.failed)
        this.log.warn(
          { err },
          'watching memory.events failed; OOM kills are counted at the next poll instead',
        );
      this.failed = true;
    });
  }

  /** After each poll: watch the memory.events of new containers, stop watching those that are gone. */
  sync(): void {
    if (!this.watcher) return;
    // Runs after every poll over every container: the file name of each is made once, not per poll.
    const generation = ++this.generation;
    const add: string[] = [];
    const remove: string[] = [];
    for (const e of this.table.values()) {
      if (!e.present || !e.path || e.sandbox) continue;
      let w = this.byId.get(e.id);
      if (w === undefined || w.cgroupPath !== e.path.cgroupPath) {
        if (w !== undefined) {
          this.watched.delete(w.file);
          remove.push(w.file);
        }
        const file = path.join(this.layout.memoryRoot, e.path.cgroupPath, 'memory.events');
        w = { cgroupPath: e.path.cgroupPath, file, generation };
        this.byId.set(e.id, w);
      }
      w.generation = generation;
      if (!this.watched.has(w.file)) add.push(w.file);
      this.watched.set(w.file, e.id);
    }
    for (const [id, w] of this.byId) {
      if (w.generation === generation) continue;
      this.byId.delete(id);
      this.watched.delete(w.file);
      remove.push(w.file);
    }
    if (add.length > 0) this.watcher.add(add);
    if (remove.length > 0) this.watcher.unwatch(remove);
  }

  /**
   * One kill changes `max`, `oom` and `oom_kill` within milliseconds, and chokidar passes on at most one
   * change per file every 50 ms (and never a trailing one): the read made on a notification can come before
   * the `oom_kill` increment whose own notification was then dropped. So every notification is followed by
   * one more read after that window closes.
   */
  private scheduleTrailingRead(file: string): void {
    if (this.trailing.has(file)) return;
    const t = setTimeout(() => {
      this.trailing.delete(file);
      this.reread(file);
    }, TRAILING_READ_MS);
    t.unref();
    this.trailing.set(file, t);
  }

  private reread(file: string): void {
    const id = this.watched.get(file);
    const entry = id === undefined ? undefined : this.table.get(id);
    if (!entry || !entry.present) return;
    let text: string;
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch {
      return; // the cgroup went away; the poller notices
    }
    const parsed = parseMemoryEvents(text);
    if (!parsed.ok) return; // the poller reports malformed files
    const now = Date.now();
    const previousReadMs = entry.lastReadMs;
    const first = entry.cgroupOomKills.lastRaw === undefined;
    entry.lastReadMs = now;
    const ev = parsed.value;
    if (ev.max !== undefined) entry.limitHits.observe(ev.max);
    if (ev.high !== undefined) entry.highEvents.observe(ev.high);
    if (ev.oomGroupKill !== undefined) entry.oomGroupKills.observe(ev.oomGroupKill);
    if (ev.oomKill !== undefined) {
      const delta = entry.cgroupOomKills.observe(ev.oomKill);
      if (delta > 0) {
        const sample: MemorySample = { ...(entry.sample ?? {}), readAtMs: now, oomKills: ev.oomKill };
        this.listener.onCgroupOomKills(entry, delta, sample, first ? undefined : previousReadMs);
      }
    }
  }

  async stop(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    for (const t of this.trailing.values()) clearTimeout(t);
    this.trailing.clear();
    this.watched.clear();
    this.byId.clear();
    await w?.close();
  }
}
