import { type Parsed, fail, ok, pickKeyedCounts, pickKeyedCountsInBytes } from './parse';

/**
 * v1 memory.oom_control:
 *   oom_kill_disable 0
 *   under_oom 0
 *   oom_kill 1
 * `oom_kill` (processes killed in this cgroup alone; v1 events are not hierarchical) exists from 4.13.
 */
export interface OomControl {
  oomKillDisable: boolean;
  underOom: boolean;
  oomKill?: number;
}

const KEYS = ['oom_kill_disable', 'under_oom', 'oom_kill'];

export function parseOomControl(text: string): Parsed<OomControl> {
  const parsed = pickKeyedCounts(text, KEYS);
  if (!parsed.ok) return parsed;
  const [disable, under, kills] = parsed.value;
  if (disable === undefined || under === undefined) {
    return fail('memory.oom_control lacks oom_kill_disable or under_oom');
  }
  const out: OomControl = { oomKillDisable: disable !== 0, underOom: under !== 0 };
  if (kills !== undefined) out.oomKill = kills;
  return ok(out);
}

const KEY_BYTES = KEYS.map((k) => Buffer.from(k, 'latin1'));
/** The values picked from one file, used at once: one array for every call. */
const picked = new Array<number | undefined>(KEYS.length);

/**
 * The same straight from the file's bytes when it is well formed (see pickKeyedCountsInBytes), without a
 * string per container per poll; undefined otherwise, and parseOomControl on the text decides. `into`, when
 * given, is filled and returned (its oomKill undefined when the kernel has no oom_kill line).
 */
export function oomControlInBytes(bytes: Buffer, length: number, into?: OomControl): OomControl | undefined {
  const v = pickKeyedCountsInBytes(bytes, length, KEY_BYTES, picked);
  if (v === undefined) return undefined;
  const [disable, under, kills] = v;
  if (disable === undefined || under === undefined) return undefined;
  if (into === undefined) {
    const out: OomControl = { oomKillDisable: disable !== 0, underOom: under !== 0 };
    if (kills !== undefined) out.oomKill = kills;
    return out;
  }
  into.oomKillDisable = disable !== 0;
  into.underOom = under !== 0;
  into.oomKill = kills;
  return into;
}
