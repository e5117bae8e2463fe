import type { CgroupMode } from '../cgroup/layout';
import type { PressureLine } from '../cgroup/pressure';
import type { DockerRunState } from '../sources/docker/metadata';
import type { HostMemory } from '../sources/proc';
import type { ContainerLabels } from '../state/labels';
import { type ContainerExit, type OomKill, type OomKillJson, oomKillJson } from '../state/oom-kill';
import type { ContainerRow } from '../state/store';
import { formatBytes, formatTime } from './format';
import type { CgroupReading } from './host';
import type { Candidate } from './resolve';
import { dockerSwapAllowance, swapVerdict } from './verdicts';

/**
 * The report of `oomwatch inspect`, pure: what the host told of one container (its cgroup reading, Docker's
 * configuration, the host's memory, the state database's history) in, one object out, which --json prints as
 * it is and inspect-render.ts turns into text. The warnings are decided here, in words.
 */

export interface InspectInputs {
  candidate: Candidate;
  now: number;
  stateAvailable: boolean;
  docker?: DockerRunState;
  reading?: CgroupReading;
  cgroupPath?: string;
  layoutMode?: CgroupMode;
  ancestor?: { bytes: number; cgroup: string };
  host?: HostMemory;
  stateRow?: ContainerRow;
  /** Newest first. */
  oomEvents?: OomKill[];
  exits?: ContainerExit[];
}

export interface PressureJson {
  avg10: number;
  avg60: number;
  avg300: number;
  total_seconds: number;
}

export interface InspectReport {
  /** Its labels, with the full id. */
  container: ContainerLabels;
  /** running, or Docker's state (exited, created, paused...), or removed (known to the state database only). */
  status: string;
  running: boolean;
  /** Where the limits below come from: the live cgroup, Docker's configuration of a stopped container, or nowhere. */
  limits_from: 'cgroup' | 'docker' | 'unknown';
  docker: {
    state: string;
    exit_code: number;
    oom_killed: boolean;
    started_at: string | null;
    finished_at: string | null;
    restart_count: number;
  } | null;
  cgroup: { path: string; dir: string; mode: CgroupMode } | null;
  memory: {
    limit_bytes: number | null;
    unlimited: boolean | null;
    /** A tighter limit of an ancestor cgroup (pod, slice), when there is one. */
    ancestor_limit_bytes: number | null;
    ancestor_cgroup: string | null;
    host_memory_bytes: number | null;
    reservation_bytes: number | null;
    high_bytes: number | null;
    swap: {
      limit_bytes: number | null;
      unlimited: boolean;
      effectively_off: boolean | null;
      verdict: string;
    };
    usage_bytes: number | null;
    working_set_bytes: number | null;
    peak_bytes: number | null;
    limit_ratio: number | null;
    stat: {
      rss_bytes: number;
      cache_bytes: number;
      mapped_file_bytes: number;
      swap_bytes: number | null;
      inactive_file_bytes: number;
    } | null;
    oom: {
      under_oom: boolean | null;
      oom_kill_disable: boolean | null;
      kernel_oom_kills: number | null;
      limit_hits: number | null;
    };
    pressure: { some: PressureJson; full: PressureJson | null } | null;
  };
  history: {
    available: boolean;
    /** Fused OOM kills the daemon counted for this container (all time within the retention). */
    oom_kills_total: number | null;
    first_seen: string | null;
    last_seen: string | null;
    oom_events: OomKillJson[];
    exits: Array<{ time: string; exit_code: number; oom_killed: boolean }>;
  };
  warnings: string[];
  read_errors: string[];
}

const nn = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

function pressureJson(p: PressureLine): PressureJson {
  return { avg10: p.avg10, avg60: p.avg60, avg300: p.avg300, total_seconds: p.totalMicroseconds / 1e6 };
}

/** Pure: the inputs gathered from the host turned into the report both outputs print. */
export function buildInspectReport(i: InspectInputs): InspectReport {
  const c = i.candidate;
  const s = i.reading?.sample;
  const d = i.docker;
  const warnings: string[] = [];
  const running = s !== undefined;
  const status = running ? 'running' : d ? d.state || 'stopped' : c.inDocker ? c.state : 'removed';

  let limit: number | undefined;
  let reservation: number | undefined;
  let swapLimit: number | undefined;
  let oomKillDisable: boolean | undefined;
  let swappiness: number | undefined;
  let limitsFrom: InspectReport['limits_from'] = 'unknown';
  if (s) {
    limitsFrom = 'cgroup';
    limit = s.limit;
    reservation = s.reservation;
    swapLimit = s.swapLimit;
    oomKillDisable = s.oomKillDisabled;
    swappiness = s.swappiness;
  } else if (d) {
    limitsFrom = 'docker';
    limit = d.memory.limit > 0 ? d.memory.limit : Infinity;
    reservation = d.memory.reservation > 0 ? d.memory.reservation : Infinity;
    swapLimit = dockerSwapAllowance(d.memory.limit, d.memory.memorySwap);
    oomKillDisable = d.memory.oomKillDisable;
    if (d.memory.swappiness !== null) swappiness = d.memory.swappiness;
  }
  const unlimited = limit === undefined ? undefined : limit === Infinity;
  const ancestorBinds = i.ancestor !== undefined && (limit === undefined || i.ancestor.bytes < limit);
  if (unlimited) {
    warnings.push(
      ancestorBinds
        ? `no memory limit of its own: only the ${formatBytes(i.ancestor?.bytes)} limit of ${i.ancestor?.cgroup} bounds it`
        : `no memory limit: this container can use all of the host's memory${i.host ? ` (${formatBytes(i.host.memTotalBytes)})` : ''}; when it runs away the host's OOM killer may kill any process on the host`,
    );
  }
  if (oomKillDisable) {
    warnings.push(
      'oom_kill_disable is set: at the limit its processes hang in the kernel instead of one being killed',
    );
  }
  if (s?.underOom)
    warnings.push('under_oom: the container is stuck at its limit right now (OOM killer disabled)');
  if (!running) {
    const how = d
      ? `${status}${d.finishedAtMs ? ` at ${formatTime(d.finishedAtMs)}` : ''}, exit code ${d.exitCode}${d.oomKilled ? ', OOM-killed' : ''}`
      : `removed; only oomwatch's state database remembers it`;
    warnings.push(
      `not running (${how}): no live memory readings${d ? '; limits are what Docker has configured' : ''}`,
    );
  }
  const swap = swapVerdict({
    ...(swapLimit !== undefined ? { swapLimitBytes: swapLimit } : {}),
    ...(i.host ? { hostSwapBytes: i.host.swapTotalBytes } : {}),
    ...(swappiness !== undefined ? { swappiness } : {}),
  });

  const finiteLimit = limit !== undefined && Number.isFinite(limit) ? limit : undefined;
  const stat = s?.stat;
  const report: InspectReport = {
    container: { ...c.labels, id: c.id },
    status,
    running,
    limits_from: limitsFrom,
    docker: d
      ? {
          state: d.state,
          exit_code: d.exitCode,
          oom_killed: d.oomKilled,
          started_at: d.startedAtMs ? new Date(d.startedAtMs).toISOString() : null,
          finished_at: d.finishedAtMs ? new Date(d.finishedAtMs).toISOString() : null,
          restart_count: d.restartCount,
        }
      : null,
    cgroup:
      i.reading && i.cgroupPath && i.layoutMode
        ? { path: i.cgroupPath, dir: i.reading.dir, mode: i.layoutMode }
        : null,
    memory: {
      limit_bytes: nn(finiteLimit),
      unlimited: nn(unlimited),
      ancestor_limit_bytes: ancestorBinds ? (i.ancestor?.bytes ?? null) : null,
      ancestor_cgroup: ancestorBinds ? (i.ancestor?.cgroup ?? null) : null,
      host_memory_bytes: i.host ? i.host.memTotalBytes : null,
      reservation_bytes: reservation !== undefined && Number.isFinite(reservation) ? reservation : null,
      high_bytes: s?.high !== undefined && Number.isFinite(s.high) ? s.high : null,
      swap: {
        limit_bytes: swapLimit !== undefined && Number.isFinite(swapLimit) ? swapLimit : null,
        unlimited: swapLimit === Infinity,
        effectively_off: nn(swap.effectivelyOff),
        verdict: swap.text,
      },
      usage_bytes: nn(s?.usage),
      working_set_bytes: nn(s?.workingSet),
      peak_bytes: nn(s?.peak),
      limit_ratio: s?.workingSet !== undefined && finiteLimit ? s.workingSet / finiteLimit : null,
      stat: stat
        ? {
            rss_bytes: stat.rss,
            cache_bytes: stat.cache,
            mapped_file_bytes: stat.mappedFile,
            swap_bytes: nn(s?.swap ?? stat.swap),
            inactive_file_bytes: stat.inactiveFile,
          }
        : null,
      oom: {
        under_oom: nn(s?.underOom),
        oom_kill_disable: nn(oomKillDisable),
        kernel_oom_kills: nn(s?.oomKills),
        limit_hits: nn(s?.limitHits),
      },
      pressure: s?.pressure
        ? {
            some: pressureJson(s.pressure.some),
            full: s.pressure.full ? pressureJson(s.pressure.full) : null,
          }
        : null,
    },
    history: {
      available: i.stateAvailable,
      oom_kills_total: i.stateRow ? i.stateRow.oom_kills : null,
      first_seen: i.stateRow ? new Date(i.stateRow.first_seen_ms).toISOString() : null,
      last_seen: i.stateRow ? new Date(i.stateRow.last_seen_ms).toISOString() : null,
      oom_events: (i.oomEvents ?? []).map(oomKillJson),
      exits: (i.exits ?? []).map((e) => ({
        time: new Date(e.timeMs).toISOString(),
        exit_code: e.exitCode,
        oom_killed: e.oomKilled,
      })),
    },
    warnings,
    read_errors: i.reading?.errors.map((e) => e.message) ?? [],
  };
  return report;
}
