import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseOomControl } from '../../src/cgroup/oom-control';
import { fixtureId } from '../helpers/fixture-ids';
import { FIXTURES } from '../helpers/paths';

/**
 * v1 memory.oom_control, as mm/memcontrol.c mem_cgroup_oom_control_read() writes it: oom_kill_disable and
 * under_oom always, oom_kill from 4.13 (Documentation/cgroup-v1/memory.txt section 10, "OOM Control").
 */
const captured = (name: string): string =>
  fs.readFileSync(
    path.join(FIXTURES, 'cgroup', 'v1', 'memory', 'docker', fixtureId(name), 'memory.oom_control'),
    'latin1',
  );

describe('parseOomControl', () => {
  it.each([
    [
      'before 4.13: no oom_kill line',
      'oom_kill_disable 0\nunder_oom 0\n',
      { oomKillDisable: false, underOom: false },
    ],
    [
      '4.13 and later',
      'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n',
      { oomKillDisable: false, underOom: false, oomKill: 1 },
    ],
    [
      'this machine: a container OOM-killed twice',
      captured('oom'),
      { oomKillDisable: false, underOom: false, oomKill: 2 },
    ],
    [
      'this machine: the OOM killer disabled, a process stuck at the limit',
      captured('frozen'),
      { oomKillDisable: true, underOom: true, oomKill: 0 },
    ],
  ])('%s', (_what, text, expected) => {
    expect(parseOomControl(text)).toEqual({ ok: true, value: expected });
  });

  it.each([
    [
      'under_oom missing',
      'oom_kill_disable 0\noom_kill 1\n',
      'memory.oom_control lacks oom_kill_disable or under_oom',
    ],
    [
      'a malformed line',
      'oom_kill_disable 0\nunder_oom yes\n',
      'expected an integer value for under_oom, got "under_oom yes"',
    ],
  ])('rejects %s', (_what, text, error) => {
    expect(parseOomControl(text)).toEqual({ ok: false, error });
  });
});
