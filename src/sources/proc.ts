import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The host facts oomwatch reads from /proc (under --proc-root) besides vmstat: which boot this is, and when it
 * began. The boot id keys the persisted kernel-log cursor and vmstat baseline: a new boot starts both afresh.
 */

type ReadText = (file: string, encoding: 'utf8') => string;

/** /proc/sys/kernel/random/boot_id: `5b7c0e3f-...` (a random UUID per boot). Throws when unreadable. */
export function readBootId(procRoot: string, read: ReadText = fs.readFileSync): string {
  return read(path.join(procRoot, 'sys/kernel/random/boot_id'), 'utf8').trim();
}

/** The boot id, or undefined when /proc cannot tell (the persisted cursors then count as another boot's). */
export function bootIdOrUndefined(procRoot: string): string | undefined {
  try {
    return readBootId(procRoot);
  } catch {
    return undefined;
  }
}

/**
 * Wall-clock ms at boot: now minus /proc/uptime (10 ms resolution), else `btime` of /proc/stat (whole
 * seconds). A record's time is this plus its microseconds since boot.
 */
export function bootTimeMs(
  io: { readFileSync: ReadText },
  procRoot: string,
  now: number = Date.now(),
): number {
  try {
    const uptime = Number(io.readFileSync(path.join(procRoot, 'uptime'), 'utf8').split(' ')[0]);
    if (Number.isFinite(uptime) && uptime > 0) return Math.round(now - uptime * 1000);
  } catch {
    // fall back to btime below
  }
  const btime = /^btime (\d+)$/m.exec(io.readFileSync(path.join(procRoot, 'stat'), 'utf8'))?.[1];
  if (btime === undefined) throw new Error(`neither ${procRoot}/uptime nor btime in ${procRoot}/stat`);
  return Number(btime) * 1000;
}
