import type { ContainerLabels } from './labels';
import type { ContainerExit, KillSource, OomKill, OomVictim } from './oom-kill';

/**
 * The state database's schema and its rows: the one place that knows how a container's counters, a kill,
 * an exit and an hour of peak history are laid out in SQLite. Bump SCHEMA_VERSION with any change: a file of
 * another version is set aside, never migrated in place.
 */

export const SCHEMA_VERSION = 2;
export const DB_FILE = 'oomwatch.db';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  labels TEXT NOT NULL,
  info TEXT NOT NULL DEFAULT '{}',
  cgroup_path TEXT,
  oom_kills INTEGER NOT NULL DEFAULT 0,
  docker_oom_events INTEGER NOT NULL DEFAULT 0,
  containerd_oom_events INTEGER,
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

/** A container's persisted counters, as restored onto a ContainerEntry. */
export interface ContainerRow {
  id: string;
  labels: string;
  info: string;
  cgroup_path: string | null;
  oom_kills: number;
  docker_oom_events: number;
  /** Null for a container the containerd source never reported. */
  containerd_oom_events: number | null;
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

/** One hour of a container's peak history (written by `serve`, read by `recommend`). */
export interface PeakRow {
  container_id: string;
  hour_ms: number;
  usage_peak_bytes: number | null;
  working_set_peak_bytes: number | null;
  limit_bytes: number | null;
  swap_peak_bytes: number | null;
}

export interface ExitEventRow {
  id: number;
  time_ms: number;
  container_id: string;
  labels: string;
  exit_code: number;
  oom_killed: number;
}

export function fromExitEventRow(r: ExitEventRow): ContainerExit & { id: number } {
  return {
    id: r.id,
    timeMs: r.time_ms,
    containerId: r.container_id,
    labels: JSON.parse(r.labels) as ContainerLabels,
    exitCode: r.exit_code,
    oomKilled: r.oom_killed === 1,
  };
}

export interface OomEventRow {
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

export function oomEventRow(ev: OomKill): Omit<OomEventRow, 'id'> {
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

export function fromOomEventRow(r: OomEventRow): OomKill & { id: number } {
  const ev: OomKill & { id: number } = {
    id: r.id,
    key: r.key,
    timeMs: r.time_ms,
    timeExact: r.time_exact === 1,
    scope: r.scope as OomKill['scope'],
    groupKill: r.group_kill === 1,
    sources: r.sources === '' ? [] : (r.sources.split(',') as KillSource[]),
  };
  if (r.trigger) ev.trigger = r.trigger as NonNullable<OomKill['trigger']>;
  if (r.container_id) ev.containerId = r.container_id;
  if (r.labels) ev.labels = JSON.parse(r.labels) as ContainerLabels;
  if (r.cgroup) ev.cgroup = r.cgroup;
  if (r.victim) ev.victim = JSON.parse(r.victim) as OomVictim;
  if (r.usage_bytes !== null) ev.usageBytes = r.usage_bytes;
  if (r.limit_bytes !== null) ev.limitBytes = r.limit_bytes;
  return ev;
}
