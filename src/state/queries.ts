import type Database from 'better-sqlite3';
import type { ContainerLabels } from './labels';
import type { ContainerExit, OomKill } from './oom-kill';
import {
  type ContainerRow,
  type ExitEventRow,
  type OomEventRow,
  type PeakRow,
  fromExitEventRow,
  fromOomEventRow,
} from './schema';
import type { StateStore } from './store';

/**
 * The read queries of the state database: the OOM event log and exit log (for /api/v1/oom-events and
 * `oomwatch events`), and the containers and peak history the on-call commands show. The daemon writes
 * through StateStore; everything here only reads, from the daemon's own store or a read-only one the CLI
 * opens on the same file.
 */

export interface EventQuery {
  sinceMs?: number;
  /** Container name, or full/short id prefix. */
  container?: string;
  limit?: number;
  /** Only rows with id greater than this (for `events --follow`). */
  afterId?: number;
}

export class StateQueries {
  constructor(readonly store: StateStore) {}

  private read<T>(fn: (db: Database.Database) => T, fallback: T): T {
    return this.store.read(fn, fallback);
  }

  queryOomEvents(q: EventQuery): Array<OomKill & { id: number }> {
    return this.read((db) => {
      const { where, params } = eventFilter(q, 'container_id');
      const rows = db
        .prepare(`SELECT * FROM oom_events ${where} ORDER BY time_ms DESC, id DESC LIMIT ?`)
        .all(...params, Math.min(q.limit ?? 100, 10_000)) as OomEventRow[];
      return rows.map(fromOomEventRow);
    }, []);
  }

  queryExitEvents(q: EventQuery): Array<ContainerExit & { id: number }> {
    return this.read((db) => {
      const { where, params } = eventFilter(q, 'container_id');
      const rows = db
        .prepare(`SELECT * FROM exit_events ${where} ORDER BY time_ms DESC, id DESC LIMIT ?`)
        .all(...params, Math.min(q.limit ?? 100, 10_000)) as ExitEventRow[];
      return rows.map(fromExitEventRow);
    }, []);
  }

  /** Every container the daemon knows, present or gone within the retention. */
  listContainers(): ContainerRow[] {
    return this.read((db) => db.prepare('SELECT * FROM containers').all() as ContainerRow[], []);
  }

  /**
   * Hourly peak rows since `sinceMs` of the given containers, and of every container of the Compose service
   * `service` names when it names one (a service's containers are recreated under new ids at each deploy;
   * its history should outlive them).
   */
  peakHistory(q: {
    containerIds: readonly string[];
    service?: Pick<ContainerLabels, 'compose_project' | 'compose_service'>;
    sinceMs: number;
  }): PeakRow[] {
    return this.read((db) => {
      const clauses: string[] = [];
      const params: Array<string | number> = [];
      if (q.containerIds.length > 0) {
        clauses.push(`container_id IN (${q.containerIds.map(() => '?').join(',')})`);
        params.push(...q.containerIds);
      }
      if (q.service?.compose_project && q.service.compose_service) {
        clauses.push(
          "(json_extract(labels, '$.compose_project') = ? AND json_extract(labels, '$.compose_service') = ?)",
        );
        params.push(q.service.compose_project, q.service.compose_service);
      }
      if (clauses.length === 0) return [];
      return db
        .prepare(
          `SELECT container_id, hour_ms, usage_peak_bytes, working_set_peak_bytes, limit_bytes, swap_peak_bytes
           FROM peaks WHERE hour_ms >= ? AND (${clauses.join(' OR ')}) ORDER BY hour_ms`,
        )
        .all(q.sinceMs, ...params) as PeakRow[];
    }, []);
  }

  /** OOM events with an id above `afterId`, oldest first (`events --follow` polls this). */
  oomEventsAfter(afterId: number, limit = 1000): Array<OomKill & { id: number }> {
    return this.read(
      (db) =>
        (
          db
            .prepare('SELECT * FROM oom_events WHERE id > ? ORDER BY id LIMIT ?')
            .all(afterId, limit) as OomEventRow[]
        ).map(fromOomEventRow),
      [],
    );
  }

  /** OOM events by id: a kill printed before the kernel log told its victim is looked up again. */
  oomEventsByIds(ids: readonly number[]): Array<OomKill & { id: number }> {
    if (ids.length === 0) return [];
    return this.read(
      (db) =>
        (
          db
            .prepare(`SELECT * FROM oom_events WHERE id IN (${ids.map(() => '?').join(',')})`)
            .all(...ids) as OomEventRow[]
        ).map(fromOomEventRow),
      [],
    );
  }

  /** Exit events with an id above `afterId`, oldest first. */
  exitEventsAfter(afterId: number, limit = 1000): Array<ContainerExit & { id: number }> {
    return this.read((db) => {
      const rows = db
        .prepare('SELECT * FROM exit_events WHERE id > ? ORDER BY id LIMIT ?')
        .all(afterId, limit) as ExitEventRow[];
      return rows.map(fromExitEventRow);
    }, []);
  }

  /** The highest event ids written so far (where `events --follow` starts watching). */
  lastEventIds(): { oom: number; exit: number } {
    return this.read(
      (db) => {
        const oom = db.prepare('SELECT MAX(id) AS id FROM oom_events').get() as { id: number | null };
        const exit = db.prepare('SELECT MAX(id) AS id FROM exit_events').get() as { id: number | null };
        return { oom: oom.id ?? 0, exit: exit.id ?? 0 };
      },
      { oom: 0, exit: 0 },
    );
  }

  /** OOM kills per container since `sinceMs`: how many and the time of the last (for `top`'s marks). */
  oomKillsByContainer(sinceMs: number): Map<string, { count: number; lastMs: number }> {
    return this.read((db) => {
      const out = new Map<string, { count: number; lastMs: number }>();
      const rows = db
        .prepare(
          'SELECT container_id, COUNT(*) AS count, MAX(time_ms) AS last_ms FROM oom_events WHERE time_ms >= ? AND container_id IS NOT NULL GROUP BY container_id',
        )
        .all(sinceMs) as Array<{ container_id: string; count: number; last_ms: number }>;
      for (const r of rows) out.set(r.container_id, { count: r.count, lastMs: r.last_ms });
      return out;
    }, new Map());
  }

  /** When the daemon last saved container state (it saves every container once a minute while it runs). */
  lastSavedMs(): number | undefined {
    return this.read(
      (db) =>
        (db.prepare('SELECT MAX(last_seen_ms) AS t FROM containers').get() as { t: number | null }).t ??
        undefined,
      undefined,
    );
  }
}

function eventFilter(q: EventQuery, idColumn: string): { where: string; params: Array<string | number> } {
  const clauses: string[] = [];
  const params: Array<string | number> = [];
  if (q.sinceMs !== undefined) {
    clauses.push('time_ms >= ?');
    params.push(q.sinceMs);
  }
  if (q.afterId !== undefined) {
    clauses.push('id > ?');
    params.push(q.afterId);
  }
  if (q.container !== undefined && q.container !== '') {
    clauses.push(
      `(${idColumn} LIKE ? OR json_extract(labels, '$.name') = ? OR json_extract(labels, '$.pod') = ? OR json_extract(labels, '$.container') = ?)`,
    );
    params.push(`${q.container.toLowerCase()}%`, q.container, q.container, q.container);
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}
