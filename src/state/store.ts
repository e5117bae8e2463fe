import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Source } from '../source';
import type { ContainerEntry } from './containers';
import type { ContainerExit, OomKill } from './oom-kill';
import {
  CONTAINER_COUNTER_NAMES,
  type ContainerRow,
  type CounterRow,
  DB_FILE,
  SCHEMA,
  SCHEMA_VERSION,
  CONTAINERD_OOM_EVENTS,
  containerCounter,
  oomEventRow,
} from './schema';
import { isoUtc } from '../iso-time';

export { DB_FILE, SCHEMA_VERSION } from './schema';
export type { ContainerRow, CounterRow, PeakRow } from './schema';

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

/** A failing state database is said at most this often. */
const WRITE_ERROR_LOG_INTERVAL_MS = 10 * 60_000;

export class StateStore implements Source {
  readonly name = 'state';
  private db: Database.Database | undefined;
  private writeFailed = false;
  /** When a write failure was last logged (a full disk lets small writes through now and then: no log flood). */
  private lastWriteErrorLogMs = -Infinity;
  /** A failure was logged and its end not yet. */
  private outageLogged = false;
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
    const aside = `${this.file}.${problem.kind}-${isoUtc(Date.now()).replace(/[:.]/g, '-')}`;
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

  /**
   * Run a write; a failure marks the store down and the caller retries later. A failure is logged once per
   * outage, and at most every 10 minutes: on a nearly full disk SQLite still fits a small write now and then,
   * and each such success followed by a failure must not add two lines to the log.
   */
  write(what: string, fn: (db: Database.Database) => void): boolean {
    if (!this.db) return false;
    try {
      this.db.transaction(() => fn(this.db as Database.Database))();
      if (this.writeFailed) {
        this.writeFailed = false;
        if (this.outageLogged) this.log.info('state database writable again');
        this.outageLogged = false;
      }
      return true;
    } catch (err) {
      const now = Date.now();
      const firstOfOutage = !this.writeFailed;
      this.writeFailed = true;
      if (firstOfOutage && now - this.lastWriteErrorLogMs >= WRITE_ERROR_LOG_INTERVAL_MS) {
        this.lastWriteErrorLogMs = now;
        this.outageLogged = true;
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

  /** Run a read; a failure is logged and gives `fallback`. */
  read<T>(fn: (db: Database.Database) => T, fallback: T): T {
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

  /** A container's rows of `container_counters`. */
  loadCounters(id: string): CounterRow[] {
    return this.read(
      (db) =>
        db
          .prepare('SELECT container_id, counter, total, raw FROM container_counters WHERE container_id = ?')
          .all(id) as CounterRow[],
      [],
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
        VALUES (@id, @labels, @info, @cgroup_path, @oom_kills, @docker_oom_events,
          @cgroup_oom_kills_total, @cgroup_oom_kills_raw,
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
      const counterStmt = db.prepare(`INSERT INTO container_counters (container_id, counter, total, raw)
        VALUES (?, ?, ?, ?) ON CONFLICT (container_id, counter) DO UPDATE SET total = excluded.total, raw = excluded.raw`);
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
        for (const name of CONTAINER_COUNTER_NAMES) {
          const c = containerCounter(e, name);
          // A counter never read (the kernel has no such key) gets no row: restored, it stays absent.
          if (c !== undefined && (c.lastRaw !== undefined || c.total > 0))
            counterStmt.run(e.id, name, c.total, c.lastRaw ?? null);
        }
        if (e.containerdOomEvents !== undefined)
          counterStmt.run(e.id, CONTAINERD_OOM_EVENTS, e.containerdOomEvents, null);
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
  upsertOomKill(kill: OomKill): boolean {
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
      ).run(oomEventRow(kill));
    });
  }

  insertExit(ev: ContainerExit): boolean {
    return this.write('exit event', (db) => {
      db.prepare(
        'INSERT INTO exit_events (time_ms, container_id, labels, exit_code, oom_killed) VALUES (?, ?, ?, ?, ?)',
      ).run(ev.timeMs, ev.containerId, JSON.stringify(ev.labels), ev.exitCode, ev.oomKilled ? 1 : 0);
    });
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
      db.prepare(
        'DELETE FROM container_counters WHERE container_id NOT IN (SELECT id FROM containers)',
      ).run();
    });
  }

  /** The underlying handle, for modules that keep their own tables (peak history). */
  get handle(): Database.Database | undefined {
    return this.db;
  }
}
