import { type Parsed, fail, ok, parseKeyedCounts } from './parse';

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

export function parseOomControl(text: string): Parsed<OomControl> {
  const parsed = parseKeyedCounts(text);
  if (!parsed.ok) return parsed;
  const m = parsed.value;
  const disable = m.get('oom_kill_disable');
  const under = m.get('under_oom');
  if (disable === undefined || under === undefined) {
    return fail('memory.oom_control lacks oom_kill_disable or under_oom');
  }
  const out: OomControl = { oomKillDisable: disable !== 0, underOom: under !== 0 };
  const kills = m.get('oom_kill');
  if (kills !== undefined) out.oomKill = kills;
  return ok(out);
}
