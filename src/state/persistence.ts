import type { Logger } from 'pino';
import type { ContainerEntry, ContainerTable } from './containers';
import type { ContainerLabels } from './labels';
import type { OomKill, Scope } from './oom-kill';
import { PeakHistory } from './peak-history';
import type { StateStore } from './store';

/**
 * Glue between the live state and the SQLite store: restores a container's counters when it is first seen
 * (so they continue after a restart and never go backwards), writes kills and exits as they happen, and
 * flushes changed counters after each poll. It also keeps the most recent events in memory so the event
 * API still answers when the database cannot be written.
 */
export class Persistence {
  private readonly dirtyIds = new Set<string>();
  private scopesDirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  readonly recentEvents: OomKill[] = [];
  private readonly peaks: PeakHistory;

  constructor(
    private readonly store: StateStore,
    private readonly table: ContainerTable,
    private readonly log: Logger,
    /** The host-wide kill counts by scope, read in place at each flush. */
    private readonly scopes?: Readonly<Record<Scope, number>>,
  ) {
    this.peaks = new PeakHistory(store, table);
  }

  /** A container first seen (ContainerTable.onCreated): restore what the store knows about it. */
  restore(entry: ContainerEntry): void {
    const row = this.store.loadContainer(entry.id);
    if (!row) return;
    try {
      const { id: _id, ...labels } = JSON.parse(row.labels) as Partial<ContainerLabels>;
      entry.applyMetadata({ ...labels, info: JSON.parse(row.info) as Record<string, string> });
    } catch {
      // labels are refreshed by the runtime sources anyway
    }
    entry.oomKills = row.oom_kills;
    entry.dockerOomEvents = row.docker_oom_events;
    if (row.containerd_oom_events !== null) entry.containerdOomEvents = row.containerd_oom_events;
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

  /** A kill counted or updated: kept among the recent ones and written (a later update replaces it by key). */
  oomKill(kill: OomKill): void {
    const copy = storedCopy(kill);
    const i = this.recentEvents.findIndex((e) => e.key === copy.key);
    if (i >= 0) this.recentEvents[i] = copy;
    else {
      this.recentEvents.push(copy);
      if (this.recentEvents.length > 1000) this.recentEvents.shift();
    }
    this.store.upsertOomKill(copy);
  }

  exit(entry: ContainerEntry, exitCode: number, oomKilled: boolean, timeMs: number): void {
    this.store.insertExit({
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
    if (this.scopesDirty && this.scopes) {
      if (this.store.saveScopes({ ...this.scopes })) this.scopesDirty = false;
    }
    this.peaks.write();
  }

  private lastFullWriteMs = 0;

  /**
   * After a poll. Raw cgroup counters (limit hits, PSI...) only need persisting for the case of a cgroup
   * recreated while oomwatch is down (otherwise the kernel's own value is the total), so they are written
   * with every container once a minute; kills, exits and presence changes are written as they happen.
   */
  afterPoll(now: number): void {
    this.peaks.note(now);
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

/**
 * The kill as it is stored: only its own fields (the ledger's working record carries matching state too), and
 * a copy, since the ledger goes on updating its record.
 */
function storedCopy(k: OomKill): OomKill {
  const copy: OomKill = {
    key: k.key,
    timeMs: k.timeMs,
    timeExact: k.timeExact,
    scope: k.scope,
    groupKill: k.groupKill,
    sources: [...k.sources],
  };
  if (k.trigger !== undefined) copy.trigger = k.trigger;
  if (k.containerId !== undefined) copy.containerId = k.containerId;
  if (k.labels !== undefined) copy.labels = { ...k.labels };
  if (k.cgroup !== undefined) copy.cgroup = k.cgroup;
  if (k.victim !== undefined) copy.victim = { ...k.victim };
  if (k.usageBytes !== undefined) copy.usageBytes = k.usageBytes;
  if (k.limitBytes !== undefined) copy.limitBytes = k.limitBytes;
  return copy;
}
