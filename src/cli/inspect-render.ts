import type { OomKillJson } from '../state/oom-kill';
import { bar, formatBytes, formatFields, formatPercent, paint } from './format';
import type { InspectReport, PressureJson } from './inspect-report';

/** The text of `oomwatch inspect`, pure: the report (inspect-report.ts) as the lines a person reads. */

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
