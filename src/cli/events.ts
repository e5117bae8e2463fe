import * as fs from 'node:fs';
import { parseSince } from '../flags';
import type { OomKill } from '../state/oom-kill';
import type { StateQueries } from '../state/queries';
import { containerFromCgroupPath } from '../cgroup/container-path';
import { serveFlags } from '../config';
import { type CliContext, type CommandSpec, JSON_FLAG, hostFlags, runCommand, usageError } from './context';
import { dockerList } from './gather';
import { KernelLogReader, checkKernelLogReadable } from './kernel-log';
import {
  type EventItem,
  eventHeader,
  eventJson,
  formatEventLine,
  matches,
  mergeEvents,
} from './events-format';
import { formatAgo, formatTime } from './format';

/**
 * `oomwatch events [--since DURATION] [--follow]`: the OOM kills and container exits oomwatch recorded,
 * oldest first, one line each; with --follow, new ones as the daemon writes them, until Ctrl-C.
 *
 * --follow polls the state database every 250 ms for rows with an id above the last one printed. Why not
 * something else:
 *   - SQLite tells only the connection that wrote a row (update hooks are per connection), and the writer is
 *     the daemon, another process;
 *   - watching the database file (inotify) fires on every write the daemon makes (counters once a minute, peak
 *     history each poll), is lost when the file is replaced, and does not cross some volume mounts: it would
 *     still need the same query to find out what changed;
 *   - a streaming endpoint on the daemon needs the daemon reachable over HTTP with its TLS and basic-auth
 *     settings, and the CLI is meant to work from the state directory alone.
 * The query is an indexed range scan on the primary key that returns nothing almost always: a few
 * microseconds four times a second. The daemon writes a kill as soon as it counts it, so a kill shows up
 * within the daemon's own detection time plus 250 ms.
 *
 * This module is the command: flags, the state database or the kernel log (kernel-log.ts), following.
 * The lines and JSON it prints are events-format.ts.
 */

export const FOLLOW_POLL_MS = 250;
/** How long a kill printed without its victim is watched for the kernel-log record that names it. */
const VICTIM_WAIT_MS = 15_000;

export const EVENTS: CommandSpec = {
  name: 'events',
  usage: 'events [--since DURATION] [--follow] [flags]',
  description: [
    "Lists the OOM kills and container exits in oomwatch's state database, oldest first, one line each:",
    'time, container, scope, victim, its RSS, exit code, and whether it was an OOM kill. With --follow it keeps',
    'printing new ones as oomwatch serve records them, until Ctrl-C. An exit code 137 is not an OOM kill by',
    'itself (docker kill and a stop timeout give 137 too): the OOM column says which it was.',
  ].join('\n'),
  flags: [
    {
      name: 'since',
      type: 'string',
      valueName: 'DURATION|TIME',
      env: false,
      default: '24h',
      help: 'Show events from this long ago (10m, 2h, 7d) or this ISO 8601 time on',
    },
    {
      name: 'follow',
      short: 'f',
      type: 'boolean',
      env: false,
      help: 'Keep printing new events as they are recorded (Ctrl-C to stop)',
    },
    {
      name: 'container',
      type: 'string',
      valueName: 'NAME|ID',
      env: false,
      help: 'Only events of this container (name, pod name or id prefix)',
    },
    { name: 'no-exits', type: 'boolean', env: false, help: 'Only OOM kills, no exits' },
    {
      name: 'kernel-log',
      type: 'boolean',
      env: false,
      help: "Read OOM kills from the kernel log (--kmsg) instead of oomwatch's state database: needs no daemon, shows what the kernel's ring buffer still holds, and no exits",
    },
    JSON_FLAG,
    ...hostFlags().filter(
      (f) => f.name === 'state-dir' || f.name === 'docker-socket' || f.name === 'proc-root',
    ),
    ...serveFlags().filter((f) => f.name === 'kmsg'),
  ],
  notes: [
    'A time ending in ~ is when oomwatch noticed the kill (from a cgroup counter), not when it happened.',
    'oom-kill* repeats a kill printed before the kernel log named its victim, now with the victim.',
  ],
  examples: [
    'oomwatch events --since 2h',
    'oomwatch events -f',
    'oomwatch events --since 7d --container web --json | jq .victim',
    'oomwatch events --kernel-log --since 1h   # no daemon: straight from /dev/kmsg',
  ],
};

export async function eventsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand(EVENTS, argv, env, async (ctx, positional) => {
    if (positional.length > 0)
      throw usageError('events', `unexpected argument "${positional[0]}" (use --container NAME to filter)`);
    const sinceText = ctx.values['since'] as string;
    const sinceMs = parseSince(sinceText);
    if (sinceMs === undefined)
      throw usageError(
        'events',
        `--since: expected a duration such as 10m, 2h or 7d, or an ISO 8601 time, got "${sinceText}"`,
      );
    const container = ctx.values['container'] as string | undefined;
    const follow = ctx.values['follow'] === true;
    const print = (item: EventItem): void => {
      if (ctx.json) ctx.out(JSON.stringify(eventJson(item)));
      else ctx.out(formatEventLine(item, ctx.colour));
    };
    const printHistory = (history: EventItem[], what: string): void => {
      if (!ctx.json && (history.length > 0 || follow)) ctx.out(eventHeader());
      for (const item of history) print(item);
      if (!ctx.json && history.length === 0) {
        const none = `no ${what} since ${formatTime(sinceMs)}${container ? ` for ${container}` : ''}`;
        process.stderr.write(`${none}${follow ? '; waiting for new ones (Ctrl-C to stop)' : ''}\n`);
      }
    };
    if (ctx.values['kernel-log'] === true)
      return kernelLogEvents(ctx, { sinceMs, container, follow, print, printHistory });

    const store = ctx.openState(true, 'the event log') as StateQueries;
    const withExits = ctx.values['no-exits'] !== true;
    // The cursor is taken first and history read up to it: nothing written in between is lost or doubled.
    const cursor = store.lastEventIds();
    const query = { sinceMs, limit: 10_000, ...(container ? { container } : {}) };
    const ooms = store.queryOomEvents(query).filter((e) => e.id <= cursor.oom);
    const exits = withExits ? store.queryExitEvents(query).filter((e) => e.id <= cursor.exit) : [];
    printHistory(mergeEvents(ooms, exits), `OOM kills${withExits ? ' or exits' : ''} recorded`);
    warnIfStale(ctx, store, follow);
    if (!follow) return 0;
    return followEvents(ctx, store, cursor, { container, withExits, print });
  });
}

/** `--kernel-log`: kills from /dev/kmsg, named through Docker when it answers. */
async function kernelLogEvents(
  ctx: CliContext,
  o: {
    sinceMs: number;
    container: string | undefined;
    follow: boolean;
    print: (item: EventItem) => void;
    printHistory: (history: EventItem[], what: string) => void;
  },
): Promise<number> {
  const file = ctx.values['kmsg'] as string;
  checkKernelLogReadable(file);
  const reader = new KernelLogReader(file, ctx.procRoot);
  const named = new Set<string>();
  const refreshNames = async (): Promise<void> => {
    for (const d of (await dockerList(ctx)) ?? []) {
      reader.name(d.id, d.meta);
      named.add(d.id);
    }
  };
  await refreshNames();
  let seq = 0;
  const items = (kills: OomKill[]): EventItem[] =>
    kills.map((ev): EventItem => ({ kind: 'oom', id: ++seq, ev })).filter((i) => matches(i, o.container));
  try {
    o.printHistory(
      items(reader.count(reader.read())).filter((i) => i.ev.timeMs >= o.sinceMs),
      'OOM kills in the kernel log',
    );
    if (!o.follow) return 0;
    return await untilSignal(FOLLOW_POLL_MS, async () => {
      const records = reader.read();
      // A container Docker did not name when the list was last asked for: ask again before counting.
      if (records.some((k) => k.taskMemcg && !named.has(containerFromCgroupPath(k.taskMemcg)?.id ?? '')))
        await refreshNames();
      for (const item of items(reader.count(records))) o.print(item);
    });
  } finally {
    reader.close();
  }
}

/** Run `tick` every `intervalMs` until Ctrl-C or SIGTERM; resolves 0 then (stopping is not an error). */
function untilSignal(intervalMs: number, tick: () => Promise<void> | void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const finish = (): void => {
      stopped = true;
      if (timer) clearTimeout(timer);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve(0);
    };
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
    const loop = async (): Promise<void> => {
      try {
        await tick();
      } catch (err) {
        process.off('SIGINT', finish);
        process.off('SIGTERM', finish);
        reject(err);
        return;
      }
      if (!stopped) timer = setTimeout(() => void loop(), intervalMs);
    };
    void loop();
  });
}

/** The daemon saves every container once a minute; a database not written for long means no daemon. */
function warnIfStale(ctx: CliContext, store: StateQueries, follow: boolean): void {
  const last = store.lastSavedMs();
  const now = Date.now();
  if (last !== undefined && now - last > 5 * 60_000) {
    ctx.warn(
      `${ctx.stateFile} was last written ${formatAgo(last, now)}: is oomwatch serve running?${follow ? ' --follow shows only what it records' : ''}`,
    );
  }
}

interface FollowOptions {
  container: string | undefined;
  withExits: boolean;
  print: (item: EventItem) => void;
}

function inodeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).ino;
  } catch {
    return undefined;
  }
}

async function followEvents(
  ctx: CliContext,
  store: StateQueries,
  start: { oom: number; exit: number },
  opts: FollowOptions,
): Promise<number> {
  let cursor = { ...start };
  /** Kills printed without a victim: the kernel-log record may add it a moment later. */
  const awaitingVictim = new Map<number, number>();
  let current = store;
  let inode = inodeOf(ctx.stateFile);

  return untilSignal(FOLLOW_POLL_MS, () => {
    // The daemon moves a corrupt database aside and starts a new one: follow the new file.
    const now = inodeOf(ctx.stateFile);
    if (now !== undefined && now !== inode) {
      inode = now;
      const reopened = ctx.openState(false, 'the new database');
      if (reopened) {
        current = reopened;
        cursor = { oom: 0, exit: 0 };
        ctx.warn(`${ctx.stateFile} was replaced; following the new database`);
      }
    }
    const latest = current.lastEventIds();
    if (latest.oom < cursor.oom || latest.exit < cursor.exit) cursor = { oom: 0, exit: 0 };
    const ooms = current.oomEventsAfter(cursor.oom);
    const exits = opts.withExits ? current.exitEventsAfter(cursor.exit) : [];
    if (ooms.length > 0) cursor.oom = (ooms[ooms.length - 1] as { id: number }).id;
    if (exits.length > 0) cursor.exit = (exits[exits.length - 1] as { id: number }).id;
    const t = Date.now();
    for (const item of mergeEvents(ooms, exits)) {
      if (!matches(item, opts.container)) continue;
      opts.print(item);
      if (item.kind === 'oom' && !item.ev.victim) awaitingVictim.set(item.id, t);
    }
    if (awaitingVictim.size > 0) {
      for (const ev of current.oomEventsByIds([...awaitingVictim.keys()])) {
        if (ev.victim) {
          awaitingVictim.delete(ev.id);
          opts.print({ kind: 'oom', id: ev.id, ev, update: true });
        }
      }
      for (const [id, since] of awaitingVictim) if (t - since > VICTIM_WAIT_MS) awaitingVictim.delete(id);
    }
  });
}
