import {
  type LinePiece,
  continuesOomLine,
  parseKillProcess,
  parseKilledProcess,
  parseOomGroup,
  parseOomSummary,
  parseTaskIn,
  unfinishedOomLine,
} from '../../../src/sources/kmsg/oom-lines';

describe('parseKilledProcess', () => {
  it.each<[string, string, ReturnType<typeof parseKilledProcess>]>([
    [
      '6.x',
      'Memory cgroup out of memory: Killed process 580 (sh) total-vm:39136kB, anon-rss:31872kB, file-rss:1392kB, shmem-rss:0kB, UID:0 pgtables:116kB oom_score_adj:0',
      {
        prefix: 'Memory cgroup out of memory',
        pid: 580,
        comm: 'sh',
        uid: 0,
        totalVmBytes: 39136 * 1024,
        anonRssBytes: 31872 * 1024,
        fileRssBytes: 1392 * 1024,
        shmemRssBytes: 0,
        oomScoreAdj: 0,
      },
    ],
    [
      'negative oom_score_adj',
      'Out of memory: Killed process 1 (x) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:7 pgtables:4kB oom_score_adj:-998',
      {
        prefix: 'Out of memory',
        pid: 1,
        comm: 'x',
        uid: 7,
        totalVmBytes: 1024,
        anonRssBytes: 2048,
        fileRssBytes: 3072,
        shmemRssBytes: 4096,
        oomScoreAdj: -998,
      },
    ],
    [
      '4.x',
      'Killed process 4321 (java) total-vm:2617284kB, anon-rss:259120kB, file-rss:16844kB, shmem-rss:0kB',
      {
        pid: 4321,
        comm: 'java',
        totalVmBytes: 2617284 * 1024,
        anonRssBytes: 259120 * 1024,
        fileRssBytes: 16844 * 1024,
        shmemRssBytes: 0,
      },
    ],
    [
      'before 4.5 (no shmem-rss)',
      'Killed process 2188 (mysqld) total-vm:3330016kB, anon-rss:864176kB, file-rss:8072kB',
      {
        pid: 2188,
        comm: 'mysqld',
        totalVmBytes: 3330016 * 1024,
        anonRssBytes: 864176 * 1024,
        fileRssBytes: 8072 * 1024,
      },
    ],
    [
      'RHEL 7 (UID after the comm)',
      'Killed process 21945 (tidb-server), UID 1000, total-vm:33027492kB, anon-rss:31303276kB, file-rss:0kB, shmem-rss:0kB',
      {
        pid: 21945,
        comm: 'tidb-server',
        uid: 1000,
        totalVmBytes: 33027492 * 1024,
        anonRssBytes: 31303276 * 1024,
        fileRssBytes: 0,
        shmemRssBytes: 0,
      },
    ],
    [
      'a comm with parentheses and spaces',
      'Memory cgroup out of memory: Killed process 9 (a (b) c) total-vm:1kB, anon-rss:1kB, file-rss:1kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
      {
        prefix: 'Memory cgroup out of memory',
        pid: 9,
        comm: 'a (b) c',
        uid: 0,
        totalVmBytes: 1024,
        anonRssBytes: 1024,
        fileRssBytes: 1024,
        shmemRssBytes: 0,
        oomScoreAdj: 0,
      },
    ],
    [
      '5.3 (UID, no pgtables or oom_score_adj yet)',
      'Memory cgroup out of memory: Killed process 2345 (python3) total-vm:640000kB, anon-rss:519000kB, file-rss:1100kB, shmem-rss:0kB, UID:1000',
      {
        prefix: 'Memory cgroup out of memory',
        pid: 2345,
        comm: 'python3',
        uid: 1000,
        totalVmBytes: 640000 * 1024,
        anonRssBytes: 519000 * 1024,
        fileRssBytes: 1100 * 1024,
        shmemRssBytes: 0,
      },
    ],
    [
      '5.0 (no prefix yet, as in 4.x)',
      'Killed process 5001 (stress) total-vm:264000kB, anon-rss:259500kB, file-rss:900kB, shmem-rss:0kB',
      {
        pid: 5001,
        comm: 'stress',
        totalVmBytes: 264000 * 1024,
        anonRssBytes: 259500 * 1024,
        fileRssBytes: 900 * 1024,
        shmemRssBytes: 0,
      },
    ],
    [
      'the reaper',
      'oom_reaper: reaped process 4321 (java), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB',
      undefined,
    ],
    ['no numbers', 'Killed process 1 (x)', undefined],
  ])('%s', (_name, message, expected) => {
    expect(parseKilledProcess(message)).toEqual(expected);
  });
});

describe('parseOomSummary', () => {
  it.each<[string, string, ReturnType<typeof parseOomSummary>]>([
    [
      'memcg',
      'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/docker/a,task_memcg=/docker/a,task=sh,pid=3536,uid=0',
      {
        constraint: 'CONSTRAINT_MEMCG',
        global: false,
        oomMemcg: '/docker/a',
        taskMemcg: '/docker/a',
        comm: 'sh',
        pid: 3536,
        uid: 0,
      },
    ],
    [
      'global, node lists with commas',
      'oom-kill:constraint=CONSTRAINT_NONE,nodemask=0,2-3,cpuset=/,mems_allowed=0-1,3,global_oom,task_memcg=/system.slice/x.service,task=a,b=c,pid=1,uid=2',
      {
        constraint: 'CONSTRAINT_NONE',
        global: true,
        taskMemcg: '/system.slice/x.service',
        comm: 'a,b=c',
        pid: 1,
        uid: 2,
      },
    ],
    [
      'the first half of a split summary',
      'oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0',
      { constraint: 'CONSTRAINT_NONE', global: false },
    ],
    ['not a summary', 'oom-killer: something else', undefined],
  ])('%s', (_name, message, expected) => {
    expect(parseOomSummary(message)).toEqual(expected);
  });
});

describe('parseTaskIn', () => {
  it.each<[string, string, ReturnType<typeof parseTaskIn>]>([
    [
      '3.16 .. 4.20',
      'Task in /docker/abc/sub killed as a result of limit of /docker/abc',
      { taskMemcg: '/docker/abc/sub', oomMemcg: '/docker/abc' },
    ],
    ['3.10, cut before its second piece', 'Task in /docker/abc killed', undefined],
    ['cut before the second path', 'Task in /docker/abc killed as a result of limit of ', undefined],
    ['no victim (panic_on_oom=2)', 'Memory limit reached of cgroup /docker/abc', undefined],
  ])('%s', (_name, message, expected) => {
    expect(parseTaskIn(message)).toEqual(expected);
  });
});

describe('parseKillProcess', () => {
  it.each<[string, string, ReturnType<typeof parseKillProcess>]>([
    [
      'cgroup OOM, 3.10 .. 5.0',
      'Memory cgroup out of memory: Kill process 5000 (sh) score 1002 or sacrifice child',
      { prefix: 'Memory cgroup out of memory', pid: 5000, comm: 'sh' },
    ],
    [
      'global OOM, a comm with spaces',
      'Out of memory: Kill process 812 (my sql d) score 901 or sacrifice child',
      { prefix: 'Out of memory', pid: 812, comm: 'my sql d' },
    ],
    [
      "3.x, a process sharing the victim's memory: not this line",
      'Kill process 24602 (java-vfork) sharing same memory',
      undefined,
    ],
    [
      '5.1+ victim line',
      'Memory cgroup out of memory: Killed process 5 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB',
      undefined,
    ],
  ])('%s', (_name, message, expected) => {
    expect(parseKillProcess(message)).toEqual(expected);
  });
});

describe('parseOomGroup', () => {
  it.each<[string, string, ReturnType<typeof parseOomGroup>]>([
    [
      'whole',
      'Tasks in /kubepods.slice/k.scope are going to be killed due to memory.oom.group set',
      '/kubepods.slice/k.scope',
    ],
    ['the head alone', 'Tasks in /kubepods.slice/k.scope', undefined],
    ['the first piece alone', 'Tasks in ', undefined],
    ['Tasks state header', 'Tasks state (memory values in pages):', undefined],
  ])('%s', (_name, message, expected) => {
    expect(parseOomGroup(message)).toEqual(expected);
  });
});

const SUMMARY_HEAD = 'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null)';
const WHOLE_SUMMARY =
  'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=sh,pid=1,uid=0';

describe('unfinishedOomLine', () => {
  it.each<[string, string, ReturnType<typeof unfinishedOomLine>]>([
    ['a whole summary', WHOLE_SUMMARY, undefined],
    ['a summary cut after nodemask', SUMMARY_HEAD, 'summary'],
    ['a summary cut after oom_memcg=', `${SUMMARY_HEAD},cpuset=/,mems_allowed=0,oom_memcg=`, 'summary'],
    ['a whole Task in line', 'Task in /a killed as a result of limit of /a', undefined],
    ['3.10 Task in head', 'Task in /a killed', 'task-in'],
    ['4.9+ Task in head', 'Task in ', 'task-in'],
    ['a whole Tasks in line', 'Tasks in /a are going to be killed due to memory.oom.group set', undefined],
    ['a Tasks in head', 'Tasks in /a', 'group'],
    ['another line', 'Killed process 1 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB', undefined],
  ])('%s', (_name, message, expected) => {
    expect(unfinishedOomLine(message)).toBe(expected);
  });
});

describe('continuesOomLine', () => {
  const c = (message: string, level = 6): LinePiece => ({ level, flags: 'c', message });
  const dash = (message: string, level = 6): LinePiece => ({ level, flags: '-', message });
  it.each<[string, string, LinePiece, boolean]>([
    [
      '4.9 .. 5.9: the rest of a summary from its first comma piece',
      SUMMARY_HEAD,
      c(',cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=sh,pid=1,uid=0'),
      true,
    ],
    [
      '5.10+: the rest of a summary from the cgroup path',
      `${SUMMARY_HEAD},cpuset=/,mems_allowed=0,oom_memcg=`,
      c('/a,task_memcg=/a,task=sh,pid=1,uid=0'),
      true,
    ],
    [
      'from the cpuset name',
      `${SUMMARY_HEAD},cpuset=`,
      c('k.scope,mems_allowed=0,global_oom,task_memcg=/a,task=sh,pid=1,uid=0'),
      true,
    ],
    [
      'not a path where a path must come',
      `${SUMMARY_HEAD},cpuset=/,mems_allowed=0,oom_memcg=`,
      c('eth0: link up'),
      false,
    ],
    ['not a summary piece', SUMMARY_HEAD, c(' as a result of limit of /a'), false],
    [
      '5.0 as first posted: ,oom_memcg= printed with pr_info',
      `${SUMMARY_HEAD},cpuset=/,mems_allowed=0`,
      dash(',oom_memcg=/a,task_memcg=/a,task=sh,pid=1,uid=0'),
      true,
    ],
    ['a - record with another summary piece', SUMMARY_HEAD, dash(',cpuset=/,mems_allowed=0'), false],
    [
      '3.10: the second piece of Task in, at the default level',
      'Task in /a killed',
      dash(' as a result of limit of /a', 4),
      true,
    ],
    [
      '3.16 .. 4.8: a bare path at the default level',
      'Task in ',
      dash('/a killed as a result of limit of /a', 4),
      true,
    ],
    [
      '3.16 .. 4.8: a bare path at another level is another record',
      'Task in ',
      dash('/dev/sda1: clean', 6),
      false,
    ],
    ['4.9+: Task in from the second path', 'Task in /a killed as a result of limit of ', c('/a'), true],
    ['4.9+: Task in from its fixed text', 'Task in /a', c(' killed as a result of limit of /a'), true],
    [
      '4.19+: Tasks in from the path',
      'Tasks in ',
      c('/a are going to be killed due to memory.oom.group set'),
      true,
    ],
    [
      '4.19+: Tasks in from its fixed text',
      'Tasks in /a',
      c(' are going to be killed due to memory.oom.group set'),
      true,
    ],
    [
      '4.19+: a - record is never the rest of Tasks in',
      'Tasks in /a',
      dash(' are going to be killed due to memory.oom.group set', 4),
      false,
    ],
    [
      '3.x + records are joined elsewhere',
      'Task in /a killed',
      { level: 4, flags: '+', message: ' as a result of limit of /a' },
      false,
    ],
    ['a whole line has no rest', WHOLE_SUMMARY, c(',x'), false],
  ])('%s', (_name, head, tail, expected) => {
    expect(continuesOomLine(head, tail)).toBe(expected);
  });
});
