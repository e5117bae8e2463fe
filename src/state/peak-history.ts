import type { ContainerEntry, ContainerTable } from './containers';
import type { StateStore } from './store';

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
 * Each container's hourly peak usage, working set and swap, written to the state database for
 * `oomwatch recommend` (bounded by --retention). A peak is written when it grew since it was last written.
 */
export class PeakHistory {
  /** This hour's peaks per container, written at each flush when they grew. */
  private readonly peaks = new Map<string, Peak>();
  /** Peaks of hours that ended with a growth not yet written. */
  private closedPeaks: Array<{ entry: ContainerEntry; peak: Peak }> = [];

  constructor(
    private readonly store: StateStore,
    private readonly table: ContainerTable,
  ) {}

  /** Track the hour's peak usage and working set of every present container (for `oomwatch recommend`). */
  note(now: number): void {
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
  write(): void {
    const due = [...this.closedPeaks];
    // forEach rather than [id, peak] pairs: this runs at every poll over every container.
    this.peaks.forEach((peak, id) => {
      const entry = this.table.get(id);
      if (!entry) this.peaks.delete(id);
      else if (peak.dirty) due.push({ entry, peak });
    });
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
}
