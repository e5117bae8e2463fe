import { parseKilledProcess, parseOomSummary } from '../../../src/sources/kmsg/oom-lines';

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
