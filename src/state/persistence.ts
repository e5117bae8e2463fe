import type { Logger } from 'pino';
import { type KillRecord, type LedgerSink, toStoredEvent } from '../accounting/ledger';
import type { ContainerEntry, ContainerLabels, ContainerTable } from './containers';
import type { StateStore, StoredOomEvent } from './store';

/** Ended hours of peak history held in memory while the database cannot be written. */
const MAX_UNWRITTEN_HOURS = 10_000;

/** A container's maxima over one hour. */
interface Peak {
  hourMs: number;
  usage: number;
  workingSet: number;
  limit?: number;
  swap: number;
  /** Grew since it was last written. */
  dirty: boolean;
}

/**
 * Glue between the live state and the SQLite store: restores a container's counters when it is first seen
 * (so they continue after a restart and never go backwards), writes kills and exits as they happen, and
 * flushes changed counters after each poll. It also keeps the most recent events in memory so the event
 * API still answers when the database cannot be written.
 */
export class Persistence implements LedgerSink {
  private readonly dirtyIds = new Set<string>();
  private scopesDirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  readonly recentEvents: StoredOomEvent[] = [];
  /** This hour's peaks per container, written at each flush when they grew. */
  private readonly peaks = new Map<string, Peak>();
  /** Peaks of hours that ended with a growth not yet written. */
  private closedPeaks: Array<{ entry: ContainerEntry; peak: Peak }> = [];
  scopesSource: (() => Record<string, number>) | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly table: ContainerTable,
    private readonly log: Logger,
  ) {}

  /** table.onCreate: restore what the store knows about this container. */
  restore(entry: ContainerEntry): void {
    const row = this.store.loadContainer(entry.id);
    if (!row) return;
    try {
      const labels = JSON.parse(row.labels) as Partial<ContainerLabels>;
      entry.applyMetadata({
        name: labels.name,
        image: labels.image,
        composeProject: labels.compose_project,
        composeService: labels.compose_service,
        namespace: labels.namespace,
        pod: labels.pod,
        container: labels.container,
        info: JSON.parse(row.info) as Record<string, string>,
      });
    } catch {
      // labels are refreshed by the runtime sources anyway
    }
    entry.oomKills = row.oom_kills;
    entry.dockerOomEvents = row.docker_oom_events;
    const restoreCounter = (
      c: { total: number; lastRaw: number | undefined },
      total: number,
      raw: number | null,
    ): void => {
      c.total = total;
      c.lastRaw = raw ?? undefined;
    };
    restoreCounter(entry.cgroupOomKills, row.cgroup_oom_kills_total, row.cgroup_oom_kills_raw);
    restoreCounter(entry.limitHits, row.limit_hits_total, row.limit_hits_raw);
    restoreCounter(entry.highEvents, row.high_events_total, row.high_events_raw);
    restoreCounter(entry.pressureSomeUs, row.psi_some_us_total, row.psi_some_us_raw);
    restoreCounter(entry.pressureFullUs, row.psi_full_us_total, row.psi_full_us_raw);
    if (row.last_read_ms !== null) entry.lastReadMs = row.last_read_ms;
    entry.firstSeenMs = row.first_seen_ms;
    if (row.gone_at_ms !== null) {
      // It was gone when last seen: whatever cgroup it has now is a new one, counting from 0.
      entry.cgroupOomKills.reset();
      entry.limitHits.reset();
      entry.highEvents.reset();
      entry.pressureSomeUs.reset();
      entry.pressureFullUs.reset();
    }
    for (const x of this.store.loadExits(entry.id))
      entry.exits.set(`${x.exit_code}|${x.oom_killed === 1}`, x.count);
  }

  /** At start: bring back containers gone within the grace period so their counters stay on /metrics. */
  restoreRecentlyGone(now: number, graceMs: number): void {
    for (const row of this.store.loadRecentContainers(now - graceMs)) {
      const entry = this.table.ensure(row.id, now);
      // A container present at the last save stays present until the first poll says otherwise: marking it
      // gone here would restart its cgroup counters and count its kills a second time. If it went away while
      // oomwatch was down, that poll marks it gone and its counters stay for the grace period.
      if (row.gone_at_ms !== null) this.table.markGone(entry, row.gone_at_ms);
    }
  }

  oomEvent(record: KillRecord, entry: ContainerEntry | undefined): void {
    const ev = toStoredEvent(record, entry);
    const i = this.recentEvents.findIndex((e) => e.key === ev.key);
    if (i >= 0) this.recentEvents[i] = ev;
    else {
      this.recentEvents.push(ev);
      if (this.recentEvents.length > 1000) this.recentEvents.shift();
    }
    this.store.upsertOomEvent(ev);
  }

  exit(entry: ContainerEntry, exitCode: number, oomKilled: boolean, timeMs: number): void {
    this.store.insertExitEvent({
      timeMs,
      containerId: entry.id,
      labels: { ...entry.labels },
      exitCode,
      oomKilled,
    });
  }

  dirty(entry: ContainerEntry | undefined): void {
    if (entry) this.dirtyIds.add(entry.id);
    else this.scopesDirty = true;
    // Kills are rare and precious: write them within a fraction of a second, not at the next poll.
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, 200);
  }

  /** Track the hour's peak usage and working set of every present container (for `oomwatch recommend`). */
  notePeaks(now: number): void {
    const hourMs = Math.floor(now / 3_600_000) * 3_600_000;
    for (const e of this.table.values()) {
      const s = e.sample;
      if (!s || s.usage === undefined || e.sandbox) continue;
      let p = this.peaks.get(e.id);
      if (!p || p.hourMs !== hourMs) {
        if (p?.dirty) this.closedPeaks.push({ entry: e, peak: p }); // the previous hour, written at the next flush
        p = { hourMs, usage: 0, workingSet: 0, swap: 0, dirty: false };
        this.peaks.set(e.id, p);
      }
      const ws = s.workingSet ?? s.usage;
      if (s.usage > p.usage || ws > p.workingSet || (s.swap ?? 0) > p.swap) {
        p.usage = Math.max(p.usage, s.usage);
        p.workingSet = Math.max(p.workingSet, ws);
        p.swap = Math.max(p.swap, s.swap ?? 0);
        p.dirty = true;
      }
      if (s.limit !== undefined && Number.isFinite(s.limit)) p.limit = s.limit;
    }
  }

  /**
   * Every peak that grew since it was last written, in one transaction: on a busy host most containers'
   * peaks creep up between polls, and a transaction per container was a WAL commit per container per poll.
   */
  private writePeaks(): void {
    const due = [...this.closedPeaks];
    for (const [id, peak] of this.peaks) {
      const entry = this.table.get(id);
      if (!entry) {
        this.peaks.delete(id);
        continue;
      }
      if (peak.dirty) due.push({ entry, peak });
    }
    if (due.length === 0) return;
    const ok = this.store.write('peak history', (db) => {
      const upsert = db.prepare(
        `INSERT INTO peaks (container_id, hour_ms, labels, usage_peak_bytes, working_set_peak_bytes, limit_bytes, swap_peak_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (container_id, hour_ms) DO UPDATE SET labels = excluded.labels,
           usage_peak_bytes = MAX(usage_peak_bytes, excluded.usage_peak_bytes),
           working_set_peak_bytes = MAX(working_set_peak_bytes, excluded.working_set_peak_bytes),
           limit_bytes = excluded.limit_bytes, swap_peak_bytes = MAX(swap_peak_bytes, excluded.swap_peak_bytes)`,
      );
      for (const { entry: e, peak: p } of due)
        upsert.run(e.id, p.hourMs, JSON.stringify(e.labels), p.usage, p.workingSet, p.limit ?? null, p.swap);
    });
    if (ok) {
      for (const { peak } of due) peak.dirty = false;
      this.closedPeaks = [];
    } else {
      // The ended hours are kept for the next flush (the newest MAX_UNWRITTEN_HOURS of them, so a disk full
      // for days does not grow memory); the current ones are collected from `peaks` again.
      this.closedPeaks = due
        .filter(({ entry, peak }) => this.peaks.get(entry.id) !== peak)
        .slice(-MAX_UNWRITTEN_HOURS);
    }
  }

  /** Write every changed counter. Failures are logged by the store and retried at the next flush. */
  flush(): void {
    if (this.dirtyIds.size > 0) {
      const entries: ContainerEntry[] = [];
      for (const id of this.dirtyIds) {
        const e = this.table.get(id);
        if (e) entries.push(e);
      }
      if (this.store.saveContainers(entries)) this.dirtyIds.clear();
    }
    if (this.scopesDirty && this.scopesSource) {
      if (this.store.saveScopes(this.scopesSource())) this.scopesDirty = false;
    }
    this.writePeaks();
  }

  private lastFullWriteMs = 0;

  /**
   * After a poll. Raw cgroup counters (limit hits, PSI...) only need persisting for the case of a cgroup
   * recreated while oomwatch is down (otherwise the kernel's own value is the total), so they are written
   * with every container once a minute; kills, exits and presence changes are written as they happen.
   */
  afterPoll(now: number): void {
    this.notePeaks(now);
    if (now - this.lastFullWriteMs >= 60_000) {
      this.lastFullWriteMs = now;
      for (const e of this.table.values()) this.dirtyIds.add(e.id);
    }
    this.flush();
  }

  stop(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flush();
    this.log.debug('state flushed');
  }
}
