import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Parsed, fail, ok, quote } from '../cgroup/parse';

/**
 * The host facts oomwatch reads from /proc (under --proc-root) besides vmstat: which boot this is, and when it
 * began (the boot id keys the persisted kernel-log cursor and vmstat baseline: a new boot starts both afresh);
 * and, for the on-call commands, how much memory and swap the host has.
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

/** The host's memory and swap, in bytes. */
export interface HostMemory {
  memTotalBytes: number;
  swapTotalBytes: number;
}

/**
 * /proc/meminfo, one `Key:   value kB` a line (fs/proc/meminfo.c); of it only
 *   MemTotal:       24684084 kB
 *   SwapTotal:       1048572 kB
 * Values are in KiB whatever the unit says. A kernel without swap support prints no SwapTotal: none, then.
 * Every other line is skipped, so a newer kernel's lines never break parsing.
 */
export function parseMeminfo(text: string): Parsed<HostMemory> {
  const memTotal = meminfoValue(text, 'MemTotal');
  if (memTotal === undefined) return fail('no MemTotal line');
  if (!memTotal.ok) return memTotal;
  const swapTotal = meminfoValue(text, 'SwapTotal') ?? ok(0);
  if (!swapTotal.ok) return swapTotal;
  return ok({ memTotalBytes: memTotal.value, swapTotalBytes: swapTotal.value });
}

function meminfoValue(text: string, key: string): Parsed<number> | undefined {
  const line = new RegExp(`^${key}:.*$`, 'm').exec(text)?.[0];
  if (line === undefined) return undefined;
  const kib = /^[A-Za-z]+:\s+(\d+) kB$/.exec(line)?.[1];
  return kib === undefined ? fail(`bad ${key} line ${quote(line)}`) : ok(Number(kib) * 1024);
}

/** The host's memory from <procRoot>/meminfo, or undefined when it cannot be read or parsed. */
export function readHostMemory(procRoot: string, read: ReadText = fs.readFileSync): HostMemory | undefined {
  let text: string;
  try {
    text = read(path.join(procRoot, 'meminfo'), 'utf8');
  } catch {
    return undefined;
  }
  const r = parseMeminfo(text);
  return r.ok ? r.value : undefined;
}
