import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Source } from '../source';
import type { ContainerEntry, ContainerLabels } from './containers';

/**
 * oomwatch's state across restarts, in one SQLite file (`<state-dir>/oomwatch.db`):
 * per-container counters (so they never go backwards), the kernel-log cursor keyed by boot id, the Docker
 * event cursor, the host-wide scope counters, the OOM event log, exit events, and the hourly peak history.
 *
 * A file that is corrupt or was written by another schema version is moved aside (never deleted) and a
 * fresh one is started, with one clear log line: a bad state file must never become a crash loop. A write
 * that fails (full disk, read-only volume) is logged once, marks the `state` source down and is retried
 * on the next flush; counting goes on in memory meanwhile.
 */

export const SCHEMA_VERSION = 1;
export const DB_FILE = 'oomwatch.db';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  labels TEXT NOT NULL,
  info TEXT NOT NULL DEFAULT '{}',
  cgroup_path TEXT,
  oom_kills INTEGER NOT NULL DEFAULT 0,
  docker_oom_events INTEGER NOT NULL DEFAULT 0,
  cgroup_oom_kills_total INTEGER NOT NULL DEFAULT 0,
  cgroup_oom_kills_raw INTEGER,
  limit_hits_total INTEGER NOT NULL DEFAULT 0,
  limit_hits_raw INTEGER,
  high_events_total INTEGER NOT NULL DEFAULT 0,
  high_events_raw INTEGER,
  psi_some_us_total INTEGER NOT NULL DEFAULT 0,
  psi_some_us_raw INTEGER,
  psi_full_us_total INTEGER NOT NULL DEFAULT 0,
  psi_full_us_raw INTEGER,
  last_read_ms INTEGER,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  gone_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS exits (
  container_id TEXT NOT NULL,
  exit_code INTEGER NOT NULL,
  oom_killed INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (container_id, exit_code, oom_killed)
);
CREATE TABLE IF NOT EXISTS exit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  container_id TEXT NOT NULL,
  labels TEXT NOT NULL,
  exit_code INTEGER NOT NULL,
  oom_killed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS exit_events_time ON exit_events (time_ms);
CREATE TABLE IF NOT EXISTS oom_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  time_ms INTEGER NOT NULL,
  time_exact INTEGER NOT NULL,
  scope TEXT NOT NULL,
  trigger TEXT,
  container_id TEXT,
  labels TEXT,
  cgroup TEXT,
  victim TEXT,
  group_kill INTEGER NOT NULL DEFAULT 0,
  usage_bytes INTEGER,
  limit_bytes INTEGER,
  sources TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oom_events_time ON oom_events (time_ms);
CREATE INDEX IF NOT EXISTS oom_events_container ON oom_events (container_id, time_ms);
CREATE TABLE IF NOT EXISTS scopes (scope TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS peaks (
  container_id TEXT NOT NULL,
  hour_ms INTEGER NOT NULL,
  labels TEXT NOT NULL,
  usage_peak_bytes INTEGER,
  working_set_peak_bytes INTEGER,
  limit_bytes INTEGER,
  swap_peak_bytes INTEGER,
  PRIMARY KEY (container_id, hour_ms)
);
`;

/**
 * The state store's SQL is a small fixed set: each text is compiled once per database and reused, rather than
 * recompiled on every write (a flush runs the same few statements for hundreds of containers).
 */
function compileOnce(db: Database.Database): Database.Database {
  const compile = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (stmt === undefined) {
      stmt = compile(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  }) as Database.Database['prepare'];
  return db;
}

/** A container's persisted counters, as restored onto a ContainerEntry. */
export interface ContainerRow {
  id: string;
  labels: string;
  info: string;
  cgroup_path: string | null;
  oom_kills: number;
  docker_oom_events: number;
  cgroup_oom_kills_total: number;
  cgroup_oom_kills_raw: number | null;
  limit_hits_total: number;
  limit_hits_raw: number | null;
  high_events_total: number;
  high_events_raw: number | null;
  psi_some_us_total: number;
  psi_some_us_raw: number | null;
  psi_full_us_total: number;
  psi_full_us_raw: number | null;
  last_read_ms: number | null;
  first_seen_ms: number;
  last_seen_ms: number;
  gone_at_ms: number | null;
}

export interface StoredOomEvent {
  key: string;
  timeMs: number;
  timeExact: boolean;
  scope: 'container' | 'system' | 'other';
  trigger?: 'cgroup' | 'system' | 'other' | 'unknown';
  containerId?: string;
  labels?: ContainerLabels;
  cgroup?: string;
  victim?: Record<string, number | string>;
  groupKill: boolean;
  usageBytes?: number;
  limitBytes?: number;
  sources: string[];
}

export interface StoredExitEvent {
  timeMs: number;
  containerId: string;
  labels: ContainerLabels;
  exitCode: number;
  oomKilled: boolean;
}

/** One hour of a container's peak history (written by `serve`, read by `recommend`). */
export interface PeakRow {
  container_id: string;
  hour_ms: number;
  usage_peak_bytes: number | null;
  working_set_peak_bytes: number | null;
  limit_bytes: number | null;
  swap_peak_bytes: number | null;
}

export interface EventQuery {
  sinceMs?: number;
  /** Container name, or full/short id prefix. */
  container?: string;
  limit?: number;
  /** Only rows with id greater than this (for `events --follow`). */
  afterId?: number;
}

export class StateStore implements Source {
  readonly name = 'state';
  private db: Database.Database | undefined;
  private writeFailed = false;
  private loggedWriteError = false;
  readonly file: string;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly opts: { readonly?: boolean } = {},
  ) {
    this.file = path.join(dir, DB_FILE);
  }

  get up(): boolean {
    return this.db !== undefined && !this.writeFailed;
  }

  /** Open (creating the directory and the file if needed); a bad file is moved aside and replaced. */
  async start(): Promise<void> {
    this.open();
  }

  open(): void {
    if (this.opts.readonly) {
      this.db = compileOnce(new Database(this.file, { readonly: true, fileMustExist: true }));
      return;
    }
    try {
      fs.mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      this.log.error(
        { err, dir: this.dir },
        `cannot create the state directory ${this.dir}: counters will not survive a restart; mount a writable volume there or pass --state-dir`,
      );
      return;
    }
    let problem: ReturnType<StateStore['tryOpen']>;
    try {
      problem = this.tryOpen();
    } catch (err) {
      this.closeQuietly();
      const e = err as Error & { code?: string };
      this.log.error(
        { err, file: this.file },
        `cannot open the state database ${this.file} (${e.code ?? e.message}): running without persistence, the file is left as it is; ` +
          'check the permissions of --state-dir and that no other oomwatch uses the same directory',
      );
      return;
    }
    if (problem === undefined) return;
    const aside = `${this.file}.${problem.kind}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    this.closeQuietly();
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        if (fs.existsSync(this.file + suffix)) fs.renameSync(this.file + suffix, aside + suffix);
      } catch {
        // best effort: the fresh database below is what matters
      }
    }
    this.log.error(
      { file: this.file, keptAs: aside, reason: problem.reason },
      `state database ${problem.kind === 'corrupt' ? 'is corrupt' : 'was written by another version'}: kept aside as ${aside}, starting with fresh state (counters restart from the kernel's own values)`,
    );
    let again: ReturnType<StateStore['tryOpen']>;
    try {
      again = this.tryOpen();
    } catch (err) {
      again = { kind: 'corrupt', reason: (err as Error).message };
    }
    if (again !== undefined) {
      this.log.error(
        { reason: again.reason },
        'cannot create a fresh state database; running without persistence',
      );
      this.closeQuietly();
    }
  }

  private tryOpen(): { kind: 'corrupt' | 'unsupported'; reason: string } | undefined {
    try {
      this.db = compileOnce(new Database(this.file));
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;');
      const check = this.db.prepare('PRAGMA quick_check').pluck().get() as string;
      if (check !== 'ok') return { kind: 'corrupt', reason: `quick_check: ${check}` };
      const hasMeta = this.db
        .prepare("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'")
        .get();
      if (hasMeta) {
        const row = this.db.prepare("SELECT value FROM meta WHERE key='schema_version'").get() as
          { value: string } | undefined;
        if (row && Number(row.value) !== SCHEMA_VERSION) {
          return {
            kind: 'unsupported',
            reason: `schema version ${row.value}, this oomwatch uses ${SCHEMA_VERSION}`,
          };
        }
      }
      this.db.exec(SCHEMA);
      this.db
        .prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)")
        .run(String(SCHEMA_VERSION));
      return undefined;
    } catch (err) {
      const e = err as Error & { code?: string };
      if (
        e.code === 'SQLITE_NOTADB' ||
        e.code === 'SQLITE_CORRUPT' ||
        /malformed|not a database/i.test(e.message)
      ) {
        return { kind: 'corrupt', reason: e.message };
      }
      // Anything else (no permission, a lock held by another process, a full disk) says nothing about the
      // file's content: it is never set aside for that.
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.closeQuietly();
  }

  private closeQuietly(): void {
    try {
      (this.db as Database.Database | undefined)?.close();
    } catch {
      // closing a database that failed is not worth a crash
    }
    this.db = undefined;
  }

  /** Run a write; a failure is logged once and marks the store down, and the caller retries later. */
  write(what: string, fn: (db: Database.Database) => void): boolean {
    if (!this.db) return false;
    try {
      this.db.transaction(() => fn(this.db as Database.Database))();
      if (this.writeFailed) {
        this.log.info('state database writable again');
        this.writeFailed = false;
        this.loggedWriteError = false;
      }
      return true;
    } catch (err) {
      this.writeFailed = true;
      if (!this.loggedWriteError) {
        this.loggedWriteError = true;
        const e = err as Error & { code?: string };
        this.log.error(
          { err, what, file: this.file },
          e.code === 'SQLITE_FULL'
            ? `the disk holding ${this.file} is full: state is kept in memory and written again when space is free`
            : `cannot write the state database (${e.code ?? e.message}): state is kept in memory and retried`,
        );
      }
      return false;
    }
  }

  private read<T>(fn: (db: Database.Database) => T, fallback: T): T {
    if (!this.db) return fallback;
    try {
      return fn(this.db);
    } catch (err) {
      this.log.warn({ err }, 'state database read failed');
      return fallback;
    }
  }

  getMeta(key: string): string | undefined {
    return this.read(
      (db) =>
        (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value,
      undefined,
    );
  }

  setMeta(values: Record<string, string>): boolean {
    return this.write('cursors', (db) => {
      const stmt = db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      );
      for (const [k, v] of Object.entries(values)) stmt.run(k, v);
    });
  }

  loadContainer(id: string): ContainerRow | undefined {
    return this.read(
      (db) => db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as ContainerRow | undefined,
      undefined,
    );
  }

  /** Containers seen since `sinceMs` (present ones have gone_at_ms NULL). */
  loadRecentContainers(sinceMs: number): ContainerRow[] {
    return this.read(
      (db) =>
        db
          .prepare('SELECT * FROM containers WHERE gone_at_ms IS NULL OR gone_at_ms >= ?')
          .all(sinceMs) as ContainerRow[],
      [],
    );
  }

  loadExits(id: string): Array<{ exit_code: number; oom_killed: number; count: number }> {
    return this.read(
      (db) =>
        db.prepare('SELECT exit_code, oom_killed, count FROM exits WHERE container_id = ?').all(id) as Array<{
          exit_code: number;
          oom_killed: number;
          count: number;
        }>,
      [],
    );
  }

  saveContainers(entries: Iterable<ContainerEntry>): boolean {
    return this.write('containers', (db) => {
      const stmt =
        db.prepare(`INSERT INTO containers (id, labels, info, cgroup_path, oom_kills, docker_oom_events,
          cgroup_oom_kills_total, cgroup_oom_kills_raw, limit_hits_total, limit_hits_raw, high_events_total, high_events_raw,
          psi_some_us_total, psi_some_us_raw, psi_full_us_total, psi_full_us_raw, last_read_ms, first_seen_ms, last_seen_ms, gone_at_ms)
        VALUES (@id, @labels, @info, @cgroup_path, @oom_kills, @docker_oom_events, @cgroup_oom_kills_total, @cgroup_oom_kills_raw,
          @limit_hits_total, @limit_hits_raw, @high_events_total, @high_events_raw, @psi_some_us_total, @psi_some_us_raw,
          @psi_full_us_total, @psi_full_us_raw, @last_read_ms, @first_seen_ms, @last_seen_ms, @gone_at_ms)
        ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, info = excluded.info, cgroup_path = excluded.cgroup_path,
          oom_kills = excluded.oom_kills, docker_oom_events = excluded.docker_oom_events,
          cgroup_oom_kills_total = excluded.cgroup_oom_kills_total, cgroup_oom_kills_raw = excluded.cgroup_oom_kills_raw,
          limit_hits_total = excluded.limit_hits_total, limit_hits_raw = excluded.limit_hits_raw,
          high_events_total = excluded.high_events_total, high_events_raw = excluded.high_events_raw,
          psi_some_us_total = excluded.psi_some_us_total, psi_some_us_raw = excluded.psi_some_us_raw,
          psi_full_us_total = excluded.psi_full_us_total, psi_full_us_raw = excluded.psi_full_us_raw,
          last_read_ms = excluded.last_read_ms, last_seen_ms = excluded.last_seen_ms, gone_at_ms = excluded.gone_at_ms`);
      const exitStmt =
        db.prepare(`INSERT INTO exits (container_id, exit_code, oom_killed, count) VALUES (?, ?, ?, ?)
        ON CONFLICT (container_id, exit_code, oom_killed) DO UPDATE SET count = excluded.count`);
      for (const e of entries) {
        stmt.run({
          id: e.id,
          labels: JSON.stringify(e.labels),
          info: JSON.stringify(e.info),
          cgroup_path: e.path?.cgroupPath ?? null,
          oom_kills: e.oomKills,
          docker_oom_events: e.dockerOomEvents,
          cgroup_oom_kills_total: e.cgroupOomKills.total,
          cgroup_oom_kills_raw: e.cgroupOomKills.lastRaw ?? null,
          limit_hits_total: e.limitHits.total,
          limit_hits_raw: e.limitHits.lastRaw ?? null,
          high_events_total: e.highEvents.total,
          high_events_raw: e.highEvents.lastRaw ?? null,
          psi_some_us_total: Math.round(e.pressureSomeUs.total),
          psi_some_us_raw: e.pressureSomeUs.lastRaw ?? null,
          psi_full_us_total: Math.round(e.pressureFullUs.total),
          psi_full_us_raw: e.pressureFullUs.lastRaw ?? null,
          last_read_ms: e.lastReadMs ?? null,
          first_seen_ms: e.firstSeenMs,
          last_seen_ms: e.lastSeenMs,
          gone_at_ms: e.goneAtMs ?? null,
        });
        for (const [key, count] of e.exits) {
          const [code, oom] = key.split('|');
          exitStmt.run(e.id, Number(code), oom === 'true' ? 1 : 0, count);
        }
      }
    });
  }

  saveScopes(scopes: Record<string, number>): boolean {
    return this.write('scopes', (db) => {
      const stmt = db.prepare(
        'INSERT INTO scopes (scope, count) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET count = excluded.count',
      );
      for (const [s, n] of Object.entries(scopes)) stmt.run(s, n);
    });
  }

  loadScopes(): Record<string, number> {
    return this.read((db) => {
      const out: Record<string, number> = {};
      for (const r of db.prepare('SELECT scope, count FROM scopes').all() as Array<{
        scope: string;
        count: number;
      }>)
        out[r.scope] = r.count;
      return out;
    }, {});
  }

  /** Insert or update (merge) an OOM event by its key. */
  upsertOomEvent(ev: StoredOomEvent): boolean {
    return this.write('oom event', (db) => {
      db.prepare(
        `INSERT INTO oom_events (key, time_ms, time_exact, scope, trigger, container_id, labels, cgroup, victim, group_kill,
            usage_bytes, limit_bytes, sources)
          VALUES (@key, @time_ms, @time_exact, @scope, @trigger, @container_id, @labels, @cgroup, @victim, @group_kill,
            @usage_bytes, @limit_bytes, @sources)
          ON CONFLICT (key) DO UPDATE SET time_ms = excluded.time_ms, time_exact = excluded.time_exact, scope = excluded.scope,
            trigger = excluded.trigger, container_id = excluded.container_id, labels = excluded.labels, cgroup = excluded.cgroup,
            victim = excluded.victim, group_kill = excluded.group_kill, usage_bytes = excluded.usage_bytes,
            limit_bytes = excluded.limit_bytes, sources = excluded.sources`,
      ).run(oomEventRow(ev));
    });
  }

  insertExitEvent(ev: StoredExitEvent): boolean {
    return this.write('exit event', (db) => {
      db.prepare(
        'INSERT INTO exit_events (time_ms, container_id, labels, exit_code, oom_killed) VALUES (?, ?, ?, ?, ?)',
      ).run(ev.timeMs, ev.containerId, JSON.stringify(ev.labels), ev.exitCode, ev.oomKilled ? 1 : 0);
    });
  }

  queryOomEvents(q: EventQuery): Array<StoredOomEvent & { id: number }> {
    return this.read((db) => {
      const { where, params } = eventFilter(q, 'container_id');
      const rows = db
        .prepare(`SELECT * FROM oom_events ${where} ORDER BY time_ms DESC, id DESC LIMIT ?`)
        .all(...params, Math.min(q.limit ?? 100, 10_000)) as OomEventRow[];
      return rows.map(fromOomEventRow);
    }, []);
  }

  queryExitEvents(q: EventQuery): Array<StoredExitEvent & { id: number }> {
    return this.read((db) => {
      const { where, params } = eventFilter(q, 'container_id');
      const rows = db
        .prepare(`SELECT * FROM exit_events ${where} ORDER BY time_ms DESC, id DESC LIMIT ?`)
        .all(...params, Math.min(q.limit ?? 100, 10_000)) as ExitEventRow[];
      return rows.map(fromExitEventRow);
    }, []);
  }

  /** Drop events and peak history older than the retention, and containers gone for longer. */
  prune(olderThanMs: number): void {
    this.write('retention', (db) => {
      db.prepare('DELETE FROM oom_events WHERE time_ms < ?').run(olderThanMs);
      db.prepare('DELETE FROM exit_events WHERE time_ms < ?').run(olderThanMs);
      db.prepare('DELETE FROM peaks WHERE hour_ms < ?').run(olderThanMs);
      db.prepare(
        'DELETE FROM exits WHERE container_id IN (SELECT id FROM containers WHERE gone_at_ms IS NOT NULL AND gone_at_ms < ?)',
      ).run(olderThanMs);
      db.prepare('DELETE FROM containers WHERE gone_at_ms IS NOT NULL AND gone_at_ms < ?').run(olderThanMs);
    });
  }

  // ------------------------------------------------------------ read queries of the on-call commands

  /** Every container the daemon knows, present or gone within the retention. */
  listContainers(): ContainerRow[] {
    return this.read((db) => db.prepare('SELECT * FROM containers').all() as ContainerRow[], []);
  }

  /**
   * Hourly peak rows since `sinceMs` of the given containers, or of every container of a Compose service
   * (a service's containers are recreated under new ids at each deploy; its history should outlive them).
   */
  peakHistory(q: {
    containerIds: readonly string[];
    composeProject?: string;
    composeService?: string;
    sinceMs: number;
  }): PeakRow[] {
    return this.read((db) => {
      const clauses: string[] = [];
      const params: Array<string | number> = [];
      if (q.containerIds.length > 0) {
        clauses.push(`container_id IN (${q.containerIds.map(() => '?').join(',')})`);
        params.push(...q.containerIds);
      }
      if (q.composeProject && q.composeService) {
        clauses.push(
          "(json_extract(labels, '$.compose_project') = ? AND json_extract(labels, '$.compose_service') = ?)",
        );
        params.push(q.composeProject, q.composeService);
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
  oomEventsAfter(afterId: number, limit = 1000): Array<StoredOomEvent & { id: number }> {
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
  oomEventsByIds(ids: readonly number[]): Array<StoredOomEvent & { id: number }> {
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
  exitEventsAfter(afterId: number, limit = 1000): Array<StoredExitEvent & { id: number }> {
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

  /** The underlying handle, for modules that keep their own tables (peak history). */
  get handle(): Database.Database | undefined {
    return this.db;
  }
}

interface ExitEventRow {
  id: number;
  time_ms: number;
  container_id: string;
  labels: string;
  exit_code: number;
  oom_killed: number;
}

function fromExitEventRow(r: ExitEventRow): StoredExitEvent & { id: number } {
  return {
    id: r.id,
    timeMs: r.time_ms,
    containerId: r.container_id,
    labels: JSON.parse(r.labels) as ContainerLabels,
    exitCode: r.exit_code,
    oomKilled: r.oom_killed === 1,
  };
}

interface OomEventRow {
  id: number;
  key: string;
  time_ms: number;
  time_exact: number;
  scope: string;
  trigger: string | null;
  container_id: string | null;
  labels: string | null;
  cgroup: string | null;
  victim: string | null;
  group_kill: number;
  usage_bytes: number | null;
  limit_bytes: number | null;
  sources: string;
}

function oomEventRow(ev: StoredOomEvent): Omit<OomEventRow, 'id'> {
  return {
    key: ev.key,
    time_ms: ev.timeMs,
    time_exact: ev.timeExact ? 1 : 0,
    scope: ev.scope,
    trigger: ev.trigger ?? null,
    container_id: ev.containerId ?? null,
    labels: ev.labels ? JSON.stringify(ev.labels) : null,
    cgroup: ev.cgroup ?? null,
    victim: ev.victim ? JSON.stringify(ev.victim) : null,
    group_kill: ev.groupKill ? 1 : 0,
    usage_bytes: ev.usageBytes ?? null,
    limit_bytes: ev.limitBytes !== undefined && Number.isFinite(ev.limitBytes) ? ev.limitBytes : null,
    sources: ev.sources.join(','),
  };
}

function fromOomEventRow(r: OomEventRow): StoredOomEvent & { id: number } {
  const ev: StoredOomEvent & { id: number } = {
    id: r.id,
    key: r.key,
    timeMs: r.time_ms,
    timeExact: r.time_exact === 1,
    scope: r.scope as StoredOomEvent['scope'],
    groupKill: r.group_kill === 1,
    sources: r.sources === '' ? [] : r.sources.split(','),
  };
  if (r.trigger) ev.trigger = r.trigger as NonNullable<StoredOomEvent['trigger']>;
  if (r.container_id) ev.containerId = r.container_id;
  if (r.labels) ev.labels = JSON.parse(r.labels) as ContainerLabels;
  if (r.cgroup) ev.cgroup = r.cgroup;
  if (r.victim) ev.victim = JSON.parse(r.victim) as Record<string, number | string>;
  if (r.usage_bytes !== null) ev.usageBytes = r.usage_bytes;
  if (r.limit_bytes !== null) ev.limitBytes = r.limit_bytes;
  return ev;
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
