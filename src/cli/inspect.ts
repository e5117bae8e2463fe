import { ancestorLimit } from '../cgroup/ancestors';
import type { CgroupMode } from '../cgroup/layout';
import type { PressureLine } from '../cgroup/pressure';
import { type ContainerExit, type OomKill, type OomKillJson, oomKillJson } from '../state/oom-kill';
import type { DockerRunState } from '../sources/docker/metadata';
import { type HostMemory, readHostMemory } from '../sources/proc';
import type { ContainerLabels } from '../state/labels';
import type { ContainerRow } from '../state/store';
import { type CommandSpec, JSON_FLAG, hostFlags, runCommand, usageError } from './context';
import { bar, formatBytes, formatFields, formatPercent, formatTime, paint } from './format';
import { gatherContainers } from './gather';
import { type CgroupReading, readCgroup } from './host';
import { type Candidate, resolutionError, resolveContainer } from './resolve';
import { dockerSwapAllowance, swapVerdict } from './verdicts';

/**
 * `oomwatch inspect <name|id-prefix>`: everything about one container's memory that the on-call engineer
 * would otherwise collect from `docker inspect`, `docker stats`, a handful of `cat`s under /sys/fs/cgroup and
 * the kernel log: its limits and what they mean, how close it is, what the kernel says, and what was killed.
 */

export const INSPECT: CommandSpec = {
  name: 'inspect',
  usage: 'inspect <name|id-prefix> [flags]',
  description: [
    "Shows one container's memory: the limit (or a warning that it has none), reservation, memory.high, swap",
    'and whether it is effectively off, usage, working set and peak, the memory.stat breakdown, OOM state, PSI,',
    "and its OOM kills and exits from oomwatch's state database. Finds stopped and removed containers too.",
    'Reads the host directly (cgroups, Docker, state directory): no running daemon is needed.',
  ].join('\n'),
  flags: [JSON_FLAG, ...hostFlags()],
  notes: [
    'A name is matched exactly (Docker name, or pod/container); otherwise the argument is an id prefix.',
    'A prefix that matches several containers lists them and exits 2; an unknown container exits 1.',
  ],
  examples: [
    'oomwatch inspect web',
    'oomwatch inspect 3f2a9c --json | jq .memory.limit_bytes',
    'oomwatch inspect shop-db-1 --state-dir /srv/oomwatch',
  ],
};

export async function inspectCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand(INSPECT, argv, env, async (ctx, positional) => {
    if (positional.length !== 1)
      throw usageError('inspect', 'expected exactly one container name or id prefix');
    const arg = positional[0] as string;
    const g = await gatherContainers(ctx, {
      stateRequired: false,
      stateWhat: 'OOM history',
      needCgroups: false,
    });
    const r = resolveContainer(arg, g.all);
    if (r.kind !== 'found') throw resolutionError(arg, r, g.searched);
    const c = r.candidate;
    if (r.note) ctx.warn(r.note);

    const inputs: InspectInputs = { candidate: c, now: Date.now(), stateAvailable: g.store !== undefined };
    const host = readHostMemory(ctx.procRoot);
    if (host) inputs.host = host;
    if (g.dockerUp && c.inDocker) {
      const d = await ctx.docker()?.inspect(c.id);
      if (d) inputs.docker = d.run;
    }
    if (g.layout && c.cgroup) {
      inputs.layoutMode = g.layout.mode;
      const reading = readCgroup(g.layout, c.cgroup.cgroupPath);
      if (reading) {
        inputs.reading = reading;
        inputs.cgroupPath = c.cgroup.cgroupPath;
        const anc = ancestorLimit(g.layout, c.cgroup.cgroupPath);
        if (anc) inputs.ancestor = anc;
      }
    }
    if (g.store) {
      if (c.stateRow) inputs.stateRow = c.stateRow;
      inputs.oomEvents = g.store.queryOomEvents({ container: c.id, limit: 20 });
      inputs.exits = g.store.queryExitEvents({ container: c.id, limit: 10 });
    }
    const report = buildInspectReport(inputs);
    if (ctx.json) ctx.out(JSON.stringify(report, null, 2));
    else ctx.out(renderInspect(report, ctx.colour).join('\n'));
    return 0;
  });
}

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

interface PressureJson {
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

function ofLimit(bytes: number | null, limit: number | null): string {
  if (bytes === null) return '-';
  return limit
    ? `${formatBytes(bytes).padStart(9)}  ${formatPercent(bytes / limit).padStart(6)} of limit`
    : formatBytes(bytes).padStart(9);
}

/** Pure: the report as the lines a person reads. */
export function renderInspect(r: InspectReport, colour: boolean): string[] {
  const m = r.memory;
  const lines: string[] = [];
  const c = r.container;
  const title = c.name || (c.pod ? `${c.namespace}/${c.pod}/${c.container}` : c.id.slice(0, 12));
  lines.push(
    `${paint(title, 'bold', colour)} (${c.id.slice(0, 12)})  ${r.running ? paint('running', 'green', colour) : paint(r.status.toUpperCase(), 'yellow', colour)}`,
  );
  const about: Array<[string, string]> = [];
  if (c.image) about.push(['image', c.image]);
  if (c.compose_project) about.push(['compose', `${c.compose_project} / ${c.compose_service}`]);
  if (c.pod) about.push(['pod', `${c.namespace}/${c.pod} container ${c.container}`]);
  if (r.cgroup) about.push(['cgroup', `${r.cgroup.dir} (${r.cgroup.mode})`]);
  if (r.docker?.started_at && r.running) about.push(['started', r.docker.started_at.replace(/\.\d+Z$/, 'Z')]);
  if (r.docker && !r.running)
    about.push([
      'exited',
      `${r.docker.finished_at ? r.docker.finished_at.replace(/\.\d+Z$/, 'Z') : '-'}  exit code ${r.docker.exit_code}${r.docker.oom_killed ? '  OOMKilled=true' : ''}`,
    ]);
  if (r.docker && r.docker.restart_count > 0) about.push(['restarts', String(r.docker.restart_count)]);
  lines.push(...formatFields(about));
  for (const w of r.warnings) lines.push(paint(`WARNING: ${w}`, 'red', colour));

  lines.push(
    '',
    paint('Limits', 'bold', colour) + (r.limits_from === 'docker' ? ' (as configured in Docker)' : ''),
  );
  const limitText =
    m.unlimited === null
      ? 'unknown (no cgroup and no Docker to ask)'
      : m.unlimited
        ? paint(
            `none: can use all host memory${m.host_memory_bytes ? ` (${formatBytes(m.host_memory_bytes)})` : ''}`,
            'red',
            colour,
          )
        : formatBytes(m.limit_bytes ?? undefined);
  const limits: Array<[string, string]> = [['limit', limitText]];
  if (m.ancestor_limit_bytes !== null)
    limits.push(['bounded by', `${formatBytes(m.ancestor_limit_bytes)} (${m.ancestor_cgroup})`]);
  limits.push(['reservation', m.reservation_bytes === null ? 'none' : formatBytes(m.reservation_bytes)]);
  if (r.cgroup?.mode === 'v2')
    limits.push(['memory.high', m.high_bytes === null ? 'none' : formatBytes(m.high_bytes)]);
  else if (r.cgroup) limits.push(['memory.high', 'n/a (cgroup v1)']);
  limits.push(['swap', m.swap.verdict]);
  lines.push(...formatFields(limits));

  if (r.running) {
    lines.push('', paint('Usage', 'bold', colour));
    const ratio = m.limit_ratio;
    const ws = ofLimit(m.working_set_bytes, m.limit_bytes);
    const usage: Array<[string, string]> = [
      ['usage', ofLimit(m.usage_bytes, m.limit_bytes)],
      [
        'working set',
        ratio === null
          ? ws
          : `${ws}  ${paint(bar(ratio), ratio >= 0.9 ? 'red' : ratio >= 0.75 ? 'yellow' : undefined, colour)}`,
      ],
      ['peak', `${ofLimit(m.peak_bytes, m.limit_bytes)}  (highest usage since the cgroup was created)`],
    ];
    lines.push(...formatFields(usage));
    if (m.stat) {
      lines.push('', `${paint('memory.stat', 'bold', colour)}`);
      lines.push(
        ...formatFields([
          ['rss/anon', formatBytes(m.stat.rss_bytes).padStart(9)],
          ['cache/file', formatBytes(m.stat.cache_bytes).padStart(9)],
          ['mapped file', formatBytes(m.stat.mapped_file_bytes).padStart(9)],
          ['swap', m.stat.swap_bytes === null ? '        -' : formatBytes(m.stat.swap_bytes).padStart(9)],
          [
            'inactive file',
            `${formatBytes(m.stat.inactive_file_bytes).padStart(9)}  (reclaimable first; not in the working set)`,
          ],
        ]),
      );
    }
    lines.push('', paint('OOM state', 'bold', colour));
    const o = m.oom;
    const oomLines: Array<[string, string]> = [
      [
        'oom_kill_disable',
        o.oom_kill_disable === null
          ? '-'
          : o.oom_kill_disable
            ? paint('1 (processes hang at the limit)', 'red', colour)
            : '0 (the kernel kills a process at the limit)',
      ],
      [
        'under_oom',
        o.under_oom === null
          ? '- (cgroup v2 has no under_oom)'
          : o.under_oom
            ? paint('1 (stuck at the limit now)', 'red', colour)
            : '0',
      ],
      [
        'oom_kill',
        o.kernel_oom_kills === null ? '-' : `${o.kernel_oom_kills} (the kernel's count for this cgroup)`,
      ],
      [
        'limit hits',
        o.limit_hits === null
          ? '-'
          : `${o.limit_hits} (times usage hit the limit: v1 failcnt, v2 events max)`,
      ],
    ];
    lines.push(...formatFields(oomLines));
    lines.push('', paint('Pressure (PSI, % of time stalled on memory)', 'bold', colour));
    if (m.pressure) {
      const p = (l: PressureJson): string =>
        `avg10 ${l.avg10.toFixed(2).padStart(6)}  avg60 ${l.avg60.toFixed(2).padStart(6)}  avg300 ${l.avg300.toFixed(2).padStart(6)}  total ${l.total_seconds.toFixed(1)}s`;
      const rows: Array<[string, string]> = [['some', p(m.pressure.some)]];
      if (m.pressure.full) rows.push(['full', p(m.pressure.full)]);
      lines.push(...formatFields(rows));
    } else lines.push('  not available (no memory.pressure: kernel without PSI, or pure cgroup v1)');
  }

  lines.push(
    '',
    paint('OOM history', 'bold', colour) +
      (r.history.available ? '' : ' (no state database: see the warning above)'),
  );
  if (r.history.available) {
    const h = r.history;
    if (h.oom_kills_total !== null)
      lines.push(
        `  ${h.oom_kills_total} OOM kill${h.oom_kills_total === 1 ? '' : 's'} counted by oomwatch; first seen ${h.first_seen?.replace(/\.\d+Z$/, 'Z')}`,
      );
    else lines.push('  oomwatch serve has not seen this container');
    if (h.oom_events.length === 0) lines.push('  no OOM kill in the event log');
    for (const e of h.oom_events) lines.push(`  ${oomEventLine(e)}`);
    for (const x of h.exits)
      lines.push(
        `  ${x.time.replace(/\.\d+Z$/, 'Z')}  exit ${x.exit_code}${x.oom_killed ? '  OOM-killed' : ''}`,
      );
  }
  if (r.read_errors.length > 0) {
    lines.push('', 'Read errors (those values are missing above):', ...r.read_errors.map((e) => `  ${e}`));
  }
  return lines;
}

/** One kill from the event log (the /api/v1/oom-events shape): time, victim, rss, how it was seen. */
function oomEventLine(e: OomKillJson): string {
  const v = e.victim;
  const victim = v
    ? `victim ${v.comm ?? '?'} (pid ${v.pid ?? '?'})  rss ${formatBytes(v.rss_bytes ?? undefined)}`
    : 'victim unknown (kernel log not read)';
  const time = e.time.replace(/\.\d+Z$/, 'Z');
  return `${time}  OOM kill  ${e.scope === 'system' ? 'SYSTEM OOM  ' : ''}${victim}  [${e.sources.join(',')}]`;
}
