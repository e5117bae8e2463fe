import type { ContainerPath } from '../cgroup/container-path';
import { discoverContainers } from '../cgroup/discover';
import { CgroupReader, FdBudget } from '../cgroup/reader';
import type { MemorySample } from '../cgroup/sample';
import { readHostMemory } from '../sources/proc';
import type { ContainerLabels } from '../state/labels';
import type { StateQueries } from '../state/queries';
import { type CommandSpec, JSON_FLAG, hostFlags, runCommand, usageError } from './context';
import type { DockerListed } from './docker';
import {
  bar,
  formatAgo,
  formatBytes,
  formatDuration,
  formatPercent,
  formatTable,
  formatTime,
  paint,
} from './format';
import { dockerList } from './gather';

/**
 * `oomwatch top`: every container on the host in one table, the closest to its limit first, refreshed in
 * place on a terminal. Containers without a limit are flagged (they are the ones that take the host down),
 * and containers OOM-killed recently are marked from oomwatch's event log.
 */

export const TOP: CommandSpec = {
  name: 'top',
  usage: 'top [--once] [flags]',
  description: [
    'A refreshing table of the containers on this host sorted by limit ratio (working set / limit), with a',
    'usage/limit bar, containers without a limit flagged, and OOM kills of the last --recent marked.',
    "Reads cgroups directly; names come from Docker, else from oomwatch's state database.",
  ].join('\n'),
  flags: [
    {
      name: 'once',
      type: 'boolean',
      env: false,
      help: 'Print one snapshot and exit (plain text when not a terminal)',
    },
    {
      name: 'interval',
      type: 'duration',
      valueName: 'DURATION',
      env: false,
      default: '2s',
      help: 'Time between refreshes',
    },
    {
      name: 'recent',
      type: 'duration',
      valueName: 'DURATION',
      env: false,
      default: '1h',
      help: 'Mark containers OOM-killed within this window',
    },
    JSON_FLAG,
    ...hostFlags(),
  ],
  notes: ['Unlimited containers are listed after the limited ones, largest working set first.'],
  examples: ['oomwatch top', 'oomwatch top --once', 'oomwatch top --once --json | jq ".containers[0]"'],
};

export interface TopRow {
  id: string;
  name: string;
  workingSetBytes?: number;
  usageBytes?: number;
  limitBytes?: number;
  unlimited: boolean;
  ratio?: number;
  psiSomeAvg10?: number;
  oomKills?: { count: number; lastMs: number };
}

/** Pure: limited containers by ratio, highest first; then unlimited ones by working set, largest first. */
export function sortTopRows(rows: TopRow[]): TopRow[] {
  return [...rows].sort((a, b) => {
    if (a.unlimited !== b.unlimited) return a.unlimited ? 1 : -1;
    if (!a.unlimited) return (b.ratio ?? -1) - (a.ratio ?? -1) || a.name.localeCompare(b.name);
    return (b.workingSetBytes ?? 0) - (a.workingSetBytes ?? 0) || a.name.localeCompare(b.name);
  });
}

export function topRow(
  id: string,
  name: string,
  s: MemorySample | undefined,
  ooms?: { count: number; lastMs: number },
): TopRow {
  const limit = s?.limit;
  const unlimited = limit === Infinity;
  const row: TopRow = { id, name, unlimited };
  if (s?.workingSet !== undefined) row.workingSetBytes = s.workingSet;
  if (s?.usage !== undefined) row.usageBytes = s.usage;
  if (limit !== undefined && Number.isFinite(limit)) {
    row.limitBytes = limit;
    if (s?.workingSet !== undefined && limit > 0) row.ratio = s.workingSet / limit;
  }
  if (s?.pressure) row.psiSomeAvg10 = s.pressure.some.avg10;
  if (ooms) row.oomKills = ooms;
  return row;
}

/** Pure: the table lines of one snapshot. */
export function renderTopTable(rows: readonly TopRow[], now: number, colour: boolean): string[] {
  const cells = rows.map((r) => [
    r.name,
    r.id.slice(0, 12),
    formatBytes(r.workingSetBytes),
    r.unlimited ? 'none' : formatBytes(r.limitBytes),
    r.unlimited ? '-' : formatPercent(r.ratio),
    r.unlimited ? 'NO LIMIT' : r.ratio === undefined ? '' : bar(r.ratio),
    r.psiSomeAvg10 === undefined ? '-' : r.psiSomeAvg10.toFixed(2),
    r.oomKills ? `${r.oomKills.count} (${formatAgo(r.oomKills.lastMs, now)})` : '',
  ]);
  const lines = formatTable(
    [
      { header: 'CONTAINER' },
      { header: 'ID' },
      { header: 'WORKING SET', right: true },
      { header: 'LIMIT', right: true },
      { header: 'RATIO', right: true },
      { header: 'USAGE/LIMIT' },
      { header: 'PSI10', right: true },
      { header: 'OOM KILLS' },
    ],
    cells,
  );
  if (!colour) return lines;
  // Colour whole lines after alignment, so escape codes never shift a column.
  return lines.map((line, i) => {
    if (i === 0) return paint(line, 'bold', true);
    const r = rows[i - 1] as TopRow;
    const hot = r.oomKills !== undefined || r.unlimited || (r.ratio ?? 0) >= 0.9;
    return paint(line, hot ? 'red' : (r.ratio ?? 0) >= 0.75 ? 'yellow' : undefined, true);
  });
}

export interface TopSnapshot {
  time: string;
  host_memory_bytes: number | null;
  containers: Array<{
    id: string;
    name: string;
    working_set_bytes: number | null;
    usage_bytes: number | null;
    limit_bytes: number | null;
    unlimited: boolean;
    limit_ratio: number | null;
    psi_some_avg10: number | null;
    recent_oom_kills: number;
    last_oom_kill: string | null;
  }>;
}

export function snapshotJson(
  rows: readonly TopRow[],
  now: number,
  hostBytes: number | undefined,
): TopSnapshot {
  return {
    time: new Date(now).toISOString(),
    host_memory_bytes: hostBytes ?? null,
    containers: rows.map((r) => ({
      id: r.id,
      name: r.name,
      working_set_bytes: r.workingSetBytes ?? null,
      usage_bytes: r.usageBytes ?? null,
      limit_bytes: r.limitBytes ?? null,
      unlimited: r.unlimited,
      limit_ratio: r.ratio ?? null,
      psi_some_avg10: r.psiSomeAvg10 ?? null,
      recent_oom_kills: r.oomKills?.count ?? 0,
      last_oom_kill: r.oomKills ? new Date(r.oomKills.lastMs).toISOString() : null,
    })),
  };
}

function displayName(labels: Partial<ContainerLabels> | undefined): string {
  if (!labels) return '';
  if (labels.name) return labels.name;
  if (labels.pod) return `${labels.pod}/${labels.container ?? ''}`;
  return '';
}

export async function topCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand(TOP, argv, env, async (ctx, positional) => {
    if (positional.length > 0) throw usageError('top', `unexpected argument "${positional[0]}"`);
    const intervalMs = ctx.values['interval'] as number;
    if (!(intervalMs >= 200)) throw usageError('top', '--interval: must be at least 200ms');
    const recentMs = ctx.values['recent'] as number;
    const once = ctx.values['once'] === true;
    const layout = ctx.layout();
    const store: StateQueries | undefined = ctx.openState(
      false,
      'OOM kill marks and the names of containers Docker does not list',
    );
    const host = readHostMemory(ctx.procRoot);

    const readers = new Map<string, CgroupReader>();
    const budget = new FdBudget(Math.max(64, FdBudget.fromProcessLimits().limit));
    let dockerNames = new Map<string, DockerListed>();
    let dockerRefreshedMs = 0;
    let dockerUp = ctx.docker() !== undefined;
    const stateNames = new Map<string, string>();
    for (const row of store?.listContainers() ?? []) {
      try {
        stateNames.set(row.id, displayName(JSON.parse(row.labels) as Partial<ContainerLabels>));
      } catch {
        // a row with unreadable labels shows its id
      }
    }

    const snapshot = async (): Promise<{ rows: TopRow[]; now: number }> => {
      const now = Date.now();
      const found: Map<string, ContainerPath> = discoverContainers(layout.memoryRoot);
      // Docker's list is one cheap call; it is refreshed when a container appears that it did not name.
      const unknown = [...found.keys()].some((id) => !dockerNames.has(id));
      if (dockerUp && (now - dockerRefreshedMs > 10_000 || unknown)) {
        const list = await dockerList(ctx);
        if (list) dockerNames = new Map(list.map((c) => [c.id, c]));
        else dockerUp = false;
        dockerRefreshedMs = now;
      }
      const ooms =
        store?.oomKillsByContainer(now - recentMs) ?? new Map<string, { count: number; lastMs: number }>();
      const rows: TopRow[] = [];
      for (const [id, path] of found) {
        const d = dockerNames.get(id);
        if (d?.meta.sandbox === true) continue;
        let reader = readers.get(id);
        if (!reader) {
          reader = new CgroupReader(layout, path.cgroupPath, budget);
          readers.set(id, reader);
        }
        const r = reader.read(now);
        if (r.vanished) continue;
        rows.push(topRow(id, d?.meta.name || stateNames.get(id) || id.slice(0, 12), r.sample, ooms.get(id)));
      }
      for (const [id, reader] of readers) {
        if (!found.has(id)) {
          reader.close();
          readers.delete(id);
        }
      }
      return { rows: sortTopRows(rows), now };
    };

    const frame = (rows: TopRow[], now: number): string => {
      if (ctx.json) return JSON.stringify(snapshotJson(rows, now, host?.memTotalBytes));
      const unlimited = rows.filter((r) => r.unlimited).length;
      const header = `oomwatch top  ${formatTime(now)}  ${rows.length} container${rows.length === 1 ? '' : 's'}, ${unlimited} without a limit, host memory ${formatBytes(host?.memTotalBytes)}${once ? '' : `  (every ${formatDuration(intervalMs)}; Ctrl-C to quit)`}`;
      let table = renderTopTable(rows, now, ctx.colour);
      const height = ctx.tty && !once ? (process.stdout.rows ?? 0) : 0;
      if (height > 4 && table.length > height - 3) {
        const shown = height - 4;
        table = [
          ...table.slice(0, shown + 1),
          `... ${rows.length - shown} more (a taller terminal, or --once, shows all)`,
        ];
      }
      return [header, '', ...table].join('\n');
    };

    try {
      if (once) {
        const { rows, now } = await snapshot();
        ctx.out(frame(rows, now));
        return 0;
      }
      return await new Promise<number>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        let stopped = false;
        const finish = (): void => {
          stopped = true;
          if (timer) clearTimeout(timer);
          if (ctx.tty) process.stdout.write('\x1b[?25h\n');
          process.off('SIGINT', finish);
          process.off('SIGTERM', finish);
          resolve(0);
        };
        process.on('SIGINT', finish);
        process.on('SIGTERM', finish);
        if (ctx.tty) process.stdout.write('\x1b[?25l');
        const draw = async (): Promise<void> => {
          let shot: { rows: TopRow[]; now: number };
          try {
            shot = await snapshot();
          } catch (err) {
            finish();
            throw err;
          }
          const { rows, now } = shot;
          if (stopped) return;
          const text = frame(rows, now);
          // On a terminal redraw in place; elsewhere (a pipe, a log) print each snapshot after a blank line.
          if (ctx.tty) process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
          else ctx.out(`${text}\n`);
          timer = setTimeout(() => {
            draw().catch((err: unknown) => {
              process.stderr.write(`oomwatch top: ${(err as Error).message}\n`);
              resolve(1);
            });
          }, intervalMs);
        };
        draw().catch((err: unknown) => {
          process.stderr.write(`oomwatch top: ${(err as Error).message}\n`);
          resolve(1);
        });
      });
    } finally {
      for (const reader of readers.values()) reader.close();
    }
  });
}
