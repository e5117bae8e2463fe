import { type Parsed, ok, parseKeyedCounts, pickKeyedCountsInBytes } from './parse';

/**
 * v2 memory.events (hierarchical; memory.events.local is this cgroup alone):
 *   low 0
 *   high 0
 *   max 12
 *   oom 3
 *   oom_kill 1
 *   oom_group_kill 0
 * `oom` counts OOM situations and `oom_kill` killed processes: they differ (one kill can follow several
 * situations, a group kill is many kills). `oom_group_kill` exists from 5.17. Unknown keys are ignored.
 */
export interface MemoryEvents {
  low?: number;
  high?: number;
  max?: number;
  oom?: number;
  oomKill?: number;
  oomGroupKill?: number;
}

const KEYS: ReadonlyArray<[string, keyof MemoryEvents]> = [
  ['low', 'low'],
  ['high', 'high'],
  ['max', 'max'],
  ['oom', 'oom'],
  ['oom_kill', 'oomKill'],
  ['oom_group_kill', 'oomGroupKill'],
];

export function parseMemoryEvents(text: string): Parsed<MemoryEvents> {
  const parsed = parseKeyedCounts(text);
  if (!parsed.ok) return parsed;
  const out: MemoryEvents = {};
  for (const [key, field] of KEYS) {
    const v = parsed.value.get(key);
    if (v !== undefined) out[field] = v;
  }
  return ok(out);
}

const KEY_BYTES = KEYS.map(([key]) => Buffer.from(key, 'latin1'));
/** The values picked from one file, used at once: one array for every call. */
const picked = new Array<number | undefined>(KEY_BYTES.length);

/**
 * The same straight from the file's bytes when every line is "key count" (see pickKeyedCountsInBytes):
 * memory.events is read for every container on every poll on cgroup v2, and a string of it per read was
 * garbage for nothing. Undefined for anything else (a negative value among them), and parseMemoryEvents on
 * the text decides. On every file it accepts, the result equals parseMemoryEvents's value.
 */
export function memoryEventsInBytes(bytes: Buffer, length: number): MemoryEvents | undefined {
  const v = pickKeyedCountsInBytes(bytes, length, KEY_BYTES, picked);
  if (v === undefined) return undefined;
  const out: MemoryEvents = {};
  for (let i = 0; i < KEYS.length; i++) {
    const value = v[i];
    if (value === undefined) continue;
    if (value < 0) return undefined;
    out[(KEYS[i] as [string, keyof MemoryEvents])[1]] = value;
  }
  return out;
}
