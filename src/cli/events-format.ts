import type { ContainerLabels } from '../state/labels';
import { type ContainerExit, type OomKill, oomKillJson, victimRssBytes } from '../state/oom-kill';
import { formatBytes, formatTime, paint } from './format';

/**
 * What `oomwatch events` prints, pure: kills and exits merged oldest first, each as one line of fixed-width
 * columns or one JSON object (kills in the /api/v1/oom-events shape), and the --container filter.
 */

export type EventItem =
  | { kind: 'oom'; id: number; ev: OomKill; update?: boolean }
  | { kind: 'exit'; id: number; ev: ContainerExit };

/** Oldest first; kills before exits at the same millisecond (the kill causes the exit). */
export function mergeEvents(
  ooms: ReadonlyArray<OomKill & { id: number }>,
  exits: ReadonlyArray<ContainerExit & { id: number }>,
): EventItem[] {
  const items: EventItem[] = [
    ...ooms.map((ev): EventItem => ({ kind: 'oom', id: ev.id, ev })),
    ...exits.map((ev): EventItem => ({ kind: 'exit', id: ev.id, ev })),
  ];
  const time = (i: EventItem): number => i.ev.timeMs;
  return items.sort(
    (a, b) => time(a) - time(b) || (a.kind === b.kind ? a.id - b.id : a.kind === 'oom' ? -1 : 1),
  );
}

function containerName(labels: Partial<ContainerLabels> | undefined, id: string | undefined): string {
  if (labels?.name) return labels.name;
  if (labels?.pod) return `${labels.pod}/${labels.container ?? ''}`;
  return id ? id.slice(0, 12) : '-';
}

const COLUMNS = [
  { header: 'TIME', width: 21 },
  { header: 'CONTAINER', width: 24 },
  { header: 'EVENT', width: 9 },
  { header: 'SCOPE', width: 9 },
  { header: 'VICTIM', width: 24 },
  { header: 'RSS', width: 9, right: true },
  { header: 'EXIT', width: 4, right: true },
  { header: 'OOM', width: 3 },
] as const;

function fit(text: string, width: number, right = false): string {
  const t = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

/** The header of the text output (fixed widths, so followed lines line up with it). */
export function eventHeader(): string {
  return COLUMNS.map((c) => fit(c.header, c.width, 'right' in c && c.right))
    .join('  ')
    .trimEnd();
}

/** Pure: one event as one line of fixed-width columns. */
export function formatEventLine(item: EventItem, colour = false): string {
  let cells: string[];
  if (item.kind === 'oom') {
    const e = item.ev;
    const v = e.victim;
    const rss = v ? victimRssBytes(v) : undefined;
    const who = e.containerId || e.labels ? containerName(e.labels, e.containerId) : (e.cgroup ?? '-');
    cells = [
      formatTime(e.timeMs) + (e.timeExact ? '' : '~'),
      who,
      item.update ? 'oom-kill*' : 'oom-kill',
      e.scope,
      v ? `${v.comm ?? '?'} (${v.pid ?? '?'})` : 'unknown',
      rss === undefined ? '-' : formatBytes(rss),
      '-',
      'yes',
    ];
  } else {
    const e = item.ev;
    cells = [
      formatTime(e.timeMs),
      containerName(e.labels, e.containerId),
      'exit',
      '-',
      '-',
      '-',
      String(e.exitCode),
      e.oomKilled ? 'yes' : 'no',
    ];
  }
  const line = cells
    .map((c, i) => fit(c, COLUMNS[i]?.width ?? 10, (COLUMNS[i] as { right?: boolean }).right))
    .join('  ')
    .trimEnd();
  const oom = item.kind === 'oom' || item.ev.oomKilled;
  return paint(line, oom ? 'red' : undefined, colour);
}

/** Pure: one event as one JSON line (kills in the /api/v1/oom-events shape, plus `type`). */
export function eventJson(item: EventItem): Record<string, unknown> {
  if (item.kind === 'oom')
    return { type: 'oom_kill', ...(item.update ? { update: true } : {}), ...oomKillJson(item.ev) };
  const e = item.ev;
  return {
    type: 'exit',
    time: new Date(e.timeMs).toISOString(),
    container: { ...e.labels, id: e.containerId },
    exit_code: e.exitCode,
    oom_killed: e.oomKilled,
  };
}

/** Whether an event is of the container `--container` names (id prefix, name, pod or pod/container). */
export function matches(item: EventItem, container: string | undefined): boolean {
  if (!container) return true;
  const id = item.kind === 'oom' ? item.ev.containerId : item.ev.containerId;
  const l = item.ev.labels;
  return (
    (id !== undefined && id.startsWith(container.toLowerCase())) ||
    l?.name === container ||
    l?.pod === container ||
    (l?.pod !== undefined && `${l.pod}/${l.container}` === container)
  );
}
