import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KernelOomKill } from '../../../src/accounting/observations';
import { OomRecordAssembler } from '../../../src/sources/kmsg/assembler';
import { type KmsgRecord, KmsgStreamSplitter, parseKmsgRecord } from '../../../src/sources/kmsg/record';
import { FIXTURES as ALL_FIXTURES } from '../../helpers/paths';

const FIXTURES = path.join(ALL_FIXTURES, 'kmsg');
const BOOT = { bootId: '34333f11-0282-4871-bc0d-b3fb340c3374', bootTimeMs: 1_795_828_436_000 };

const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'latin1');

/** Cut a byte stream into records the way the source does for a regular file, with reads of `chunk` bytes. */
function split(text: string, chunk = text.length): string[] {
  const s = new KmsgStreamSplitter();
  const out: string[] = [];
  for (let i = 0; i < text.length; i += chunk) out.push(...s.push(text.slice(i, i + chunk)));
  out.push(...s.end());
  return out;
}

function records(text: string, chunk?: number): KmsgRecord[] {
  return split(text, chunk).flatMap((r) => {
    const p = parseKmsgRecord(r);
    return p.ok ? [p.value] : [];
  });
}

function assemble(recs: KmsgRecord[]): KernelOomKill[] {
  const a = new OomRecordAssembler(BOOT);
  const kills = recs.flatMap((r) => a.push(r));
  return [...kills, ...a.flush()];
}

/** The fields a test names; the rest of a kill is checked where it matters. */
const brief = (k: KernelOomKill) => ({
  seq: k.seq,
  pid: k.victim.pid,
  comm: k.victim.comm,
  trigger: k.trigger,
  taskMemcg: k.taskMemcg,
  oomMemcg: k.oomMemcg,
  groupKill: k.groupKill,
  groupMemcg: k.groupMemcg,
  repeatOfSeq: k.repeatOfSeq,
});

const DOCKER_V1 = '/docker/4f3c2a1b0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b';
const DOCKER_SCOPE =
  '/system.slice/docker-9f2d5c0e1b7a4d3c8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f.scope';
const K8S_419 =
  '/kubepods/burstable/pod10d16a28-60ff-475f-a631-510d9792219f/178ec18073cc6ac7be2de8d9869daf162a6349dd056b6535849112c53ec3102a';
const POD =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod10d16a28_60ff_475f_a631_510d9792219f.slice';
const C1 = `${POD}/cri-containerd-178ec18073cc6ac7be2de8d9869daf162a6349dd056b6535849112c53ec3102a.scope`;
const C2 = `${POD}/cri-containerd-46b3e0a4df44b752b841aecca454e6e78995d567912a84950390bae6f6777a63.scope`;
const U = undefined;

/** Expected kills per fixture, in kernel order. */
const CASES: [string, string, ReturnType<typeof brief>[]][] = [
  [
    '4.x memcg: Task in + Kill process + Killed process',
    '4.14-memcg.txt',
    [
      {
        seq: 1216,
        pid: 4321,
        comm: 'java',
        trigger: 'cgroup',
        taskMemcg: DOCKER_V1,
        oomMemcg: DOCKER_V1,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    '4.x memcg, a child sacrificed for its parent: same OOM, the child cgroup is not printed',
    '4.14-sacrifice-child.txt',
    [
      {
        seq: 2008,
        pid: 5001,
        comm: 'stress',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: DOCKER_V1,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    '4.x global: Out of memory: Kill process, no Task in',
    '4.14-global.txt',
    [
      {
        seq: 3007,
        pid: 812,
        comm: 'mysqld',
        trigger: 'system',
        taskMemcg: U,
        oomMemcg: U,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    '4.19 memory.oom.group: the first victim, then every member (the first victim again, as the kernel prints it)',
    '4.19-group.txt',
    [
      {
        seq: 4005,
        pid: 7001,
        comm: 'nginx',
        trigger: 'cgroup',
        taskMemcg: K8S_419,
        oomMemcg: K8S_419,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
      {
        seq: 4007,
        pid: 7001,
        comm: 'nginx',
        trigger: 'cgroup',
        taskMemcg: K8S_419,
        oomMemcg: K8S_419,
        groupKill: true,
        groupMemcg: K8S_419,
        repeatOfSeq: 4005,
      },
      {
        seq: 4009,
        pid: 7002,
        comm: 'nginx',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: K8S_419,
        groupKill: true,
        groupMemcg: K8S_419,
        repeatOfSeq: U,
      },
      {
        seq: 4010,
        pid: 7003,
        comm: 'nginx: worker',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: K8S_419,
        groupKill: true,
        groupMemcg: K8S_419,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    '5.0 summary split in two records (",oom_memcg=" printed with pr_info), constraint printed as NONE',
    '5.0-split-summary.txt',
    [
      {
        seq: 7004,
        pid: 9188,
        comm: 'a.out',
        trigger: 'cgroup',
        taskMemcg: '/test1',
        oomMemcg: '/test1',
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    '5.x memcg (Docker systemd layout): oom-kill: + Memory cgroup out of memory: Killed process',
    '5.10-memcg.txt',
    [
      {
        seq: 5011,
        pid: 2345,
        comm: 'python3',
        trigger: 'cgroup',
        taskMemcg: DOCKER_SCOPE,
        oomMemcg: DOCKER_SCOPE,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    '5.x global_oom, a cpuset-constrained OOM, and oom_kill_allocating_task',
    '5.10-global.txt',
    [
      {
        seq: 6004,
        pid: 3100,
        comm: 'node',
        trigger: 'system',
        taskMemcg: DOCKER_SCOPE,
        oomMemcg: U,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
      {
        seq: 6007,
        pid: 3300,
        comm: 'batch',
        trigger: 'other',
        taskMemcg: '/system.slice/batch.service',
        oomMemcg: U,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
      {
        seq: 6009,
        pid: 3400,
        comm: 'make',
        trigger: 'system',
        taskMemcg: '/user.slice/user-1000.slice/session-3.scope',
        oomMemcg: U,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    '6.x memory.oom.group (Kubernetes, cgroup v2): repeat of the first victim, an exiting member skipped, reaper lines between',
    '6.1-group.txt',
    [
      {
        seq: 8004,
        pid: 68061,
        comm: 'stress',
        trigger: 'cgroup',
        taskMemcg: C1,
        oomMemcg: C1,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
      {
        seq: 8006,
        pid: 68061,
        comm: 'stress',
        trigger: 'cgroup',
        taskMemcg: C1,
        oomMemcg: C1,
        groupKill: true,
        groupMemcg: C1,
        repeatOfSeq: 8004,
      },
      {
        seq: 8008,
        pid: 68050,
        comm: 'sh',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: C1,
        groupKill: true,
        groupMemcg: C1,
        repeatOfSeq: U,
      },
      {
        seq: 8010,
        pid: 68062,
        comm: 'stress worker',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: C1,
        groupKill: true,
        groupMemcg: C1,
        repeatOfSeq: U,
      },
    ],
  ],
  [
    "6.x group kills in a rate-limited storm: the next first victim is not taken for a member but for the next group's first victim, nor a kill 2 s later",
    '6.1-group-storm.txt',
    [
      {
        seq: 9001,
        pid: 22609,
        comm: 'node',
        trigger: 'cgroup',
        taskMemcg: C1,
        oomMemcg: C1,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
      {
        seq: 9003,
        pid: 22610,
        comm: 'node',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: C1,
        groupKill: true,
        groupMemcg: C1,
        repeatOfSeq: U,
      },
      {
        seq: 9004,
        pid: 22700,
        comm: 'java',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: U,
        groupKill: U,
        groupMemcg: C2, // its summary was rate-limited: the Tasks in line after it names its group
        repeatOfSeq: U,
      },
      {
        seq: 9006,
        pid: 22701,
        comm: 'java',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: U,
        groupKill: true,
        groupMemcg: C2,
        repeatOfSeq: U,
      },
      {
        seq: 9007,
        pid: 22800,
        comm: 'python3',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: U,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ],
  ],
  ['garbage and look-alike lines', 'garbage.txt', []],
];

describe('kernel-log OOM records, per kernel era', () => {
  it.each(CASES)('%s (%s)', (_name, file, expected) => {
    expect(assemble(records(fixture(file))).map(brief)).toEqual(expected);
  });

  it.each(CASES)('%s (%s): the same kills whatever the read boundaries', (_name, file, expected) => {
    const text = fixture(file);
    for (const chunk of [1, 7, 100, 4096])
      expect(assemble(records(text, chunk)).map(brief)).toEqual(expected);
  });

  it('reads every number of the 5.x+ Killed process line, in bytes', () => {
    const [kill] = assemble(records(fixture('5.10-memcg.txt')));
    expect(kill).toEqual({
      bootId: BOOT.bootId,
      seq: 5011,
      timeMs: BOOT.bootTimeMs + 400_000, // usec 400000420 since boot
      trigger: 'cgroup',
      constraint: 'CONSTRAINT_MEMCG',
      oomMemcg: DOCKER_SCOPE,
      taskMemcg: DOCKER_SCOPE,
      victim: {
        pid: 2345,
        comm: 'python3',
        uid: 1000,
        totalVmBytes: 640000 * 1024,
        anonRssBytes: 519000 * 1024,
        fileRssBytes: 1100 * 1024,
        shmemRssBytes: 0,
        oomScoreAdj: 0,
      },
    });
  });

  it('takes uid from the 5.x summary when the victim line is the 4.x one', () => {
    const recs = records(
      [
        '6,1,10,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=x,pid=5,uid=33',
        '3,2,20,-;Killed process 5 (x) total-vm:10kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB',
        '',
      ].join('\n'),
    );
    expect(assemble(recs).map((k) => [k.taskMemcg, k.oomMemcg, k.victim.uid])).toEqual([['/a/b', '/a', 33]]);
  });
});

describe('real records of this machine (6.18, cgroup v1), captured by test/fixtures/kmsg/capture.sh', () => {
  const capturedCgroup = (text: string): string =>
    (/oom_memcg=(\/docker\/[0-9a-f]{64})/.exec(text) as RegExpExecArray)[1] as string;

  it('one kill of a process whose comm has spaces, parentheses and a comma, cut to 15 bytes', () => {
    const text = fixture('real-6.18.44-v1-memcg.txt');
    const cg = capturedCgroup(text);
    const kills = assemble(records(text));
    expect(kills.map(brief)).toEqual([
      {
        seq: 1375,
        pid: 31205,
        comm: 'oom hog (x), 12',
        trigger: 'cgroup',
        taskMemcg: cg,
        oomMemcg: cg,
        groupKill: U,
        groupMemcg: U,
        repeatOfSeq: U,
      },
    ]);
    expect(kills[0]?.victim.anonRssBytes).toBe(32640 * 1024);
  });

  it('14 kills in 0.6 s: the rate limit drops the oom-kill: line of the last ones, which still count, unattributed', () => {
    const text = fixture('real-6.18.44-v1-ratelimit.txt');
    const cg = capturedCgroup(text);
    const kills = assemble(records(text));
    expect(kills).toHaveLength((text.match(/Killed process/g) ?? []).length);
    expect(kills).toHaveLength(14);
    expect(new Set(kills.map((k) => k.victim.pid)).size).toBe(14);
    const withSummary = kills.filter((k) => k.taskMemcg !== undefined);
    const without = kills.filter((k) => k.taskMemcg === undefined);
    expect(withSummary.length).toBeGreaterThan(0);
    expect(without.length).toBeGreaterThan(0);
    for (const k of withSummary)
      expect([k.taskMemcg, k.oomMemcg, k.constraint]).toEqual([cg, cg, 'CONSTRAINT_MEMCG']);
    for (const k of without) expect([k.oomMemcg, k.constraint, k.trigger]).toEqual([U, U, 'cgroup']);
    // Rate limiting drops headers at the end of a burst, never in the middle.
    const firstWithout = kills.findIndex((k) => k.taskMemcg === undefined);
    expect(kills.slice(firstWithout).every((k) => k.taskMemcg === undefined)).toBe(true);
    for (const k of kills) expect(k.victim.comm).toBe('oom burst');
  });
});

describe('interleaving', () => {
  it('records of other subsystems and other CPUs between the summary and the victim line change nothing', () => {
    const recs = records(fixture('5.10-memcg.txt'));
    const i = recs.findIndex((r) => r.message.startsWith('oom-kill:'));
    const noise: KmsgRecord[] = [
      {
        level: 6,
        facility: 0,
        seq: 0,
        usec: 0,
        flags: '-',
        message: 'cni0: port 2(veth1) entered blocking state',
        dict: {},
      },
      {
        level: 6,
        facility: 0,
        seq: 0,
        usec: 0,
        flags: '-',
        message: 'oom_reaper: reaped process 111 (other), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB',
        dict: {},
      },
      {
        level: 4,
        facility: 0,
        seq: 0,
        usec: 0,
        flags: '-',
        message: 'oom_kill_process: 3 callbacks suppressed',
        dict: {},
      },
    ];
    const mixed = [...recs.slice(0, i + 1), ...noise, ...recs.slice(i + 1)];
    expect(assemble(mixed).map(brief)).toEqual(assemble(recs).map(brief));
  });

  it('a victim line whose summary named another pid gets no cgroup from it', () => {
    const recs = records(
      [
        '6,1,10,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=x,pid=5,uid=0',
        '6,2,15,-;Memory cgroup out of memory: OOM victim 5 (x) is already exiting. Skip killing the task',
        '3,3,20,-;Memory cgroup out of memory: Killed process 9 (y) total-vm:10kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
        '',
      ].join('\n'),
    );
    expect(assemble(recs).map((k) => [k.victim.pid, k.taskMemcg, k.oomMemcg, k.trigger])).toEqual([
      [9, U, U, 'cgroup'],
    ]);
  });

  it('a later rate-limited kill does not inherit the summary of an earlier one', () => {
    const recs = records(
      fixture('5.10-memcg.txt') +
        '3,5013,400500000,-;Memory cgroup out of memory: Killed process 2400 (python3) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n',
    );
    expect(assemble(recs).map((k) => [k.victim.pid, k.taskMemcg])).toEqual([
      [2345, DOCKER_SCOPE],
      [2400, U],
    ]);
  });

  it('4.x: a stale Task in line of an earlier event does not attach to a rate-limited later one', () => {
    const recs = records(
      fixture('4.14-memcg.txt') +
        '3,1219,95000000,-;Memory cgroup out of memory: Kill process 4400 (java) score 990 or sacrifice child\n' +
        '3,1220,95000080,-;Killed process 4400 (java) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB\n',
    );
    expect(assemble(recs).map((k) => [k.victim.pid, k.taskMemcg, k.trigger])).toEqual([
      [4321, DOCKER_V1, 'cgroup'],
      [4400, U, 'cgroup'],
    ]);
  });

  it('4.x: a Killed process line whose Kill process line was lost has an unknown trigger', () => {
    const recs = records(
      '3,1,10,-;Killed process 77 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB\n',
    );
    expect(assemble(recs).map((k) => k.trigger)).toEqual(['unknown']);
  });

  it('old kernels store a continued line as c + records: they are joined before parsing', () => {
    const recs = records(
      [
        '6,1,10,c;Task in /docker/abc',
        '6,2,11,+; killed as a result of limit of ',
        '6,3,12,+;/docker/abc',
        '3,4,20,-;Memory cgroup out of memory: Kill process 5 (x) score 1 or sacrifice child',
        '3,5,30,-;Killed process 5 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB',
        '',
      ].join('\n'),
    );
    expect(assemble(recs).map((k) => [k.taskMemcg, k.oomMemcg])).toEqual([['/docker/abc', '/docker/abc']]);
  });

  it('a kill without a cgroup of its own is held until the next record: a Tasks in line after it names its group', () => {
    const a = new OomRecordAssembler(BOOT);
    const [killed, tasksIn, member] = records(
      [
        '3,10,1000,-;Memory cgroup out of memory: Killed process 5 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
        '6,11,1400,-;Tasks in /g are going to be killed due to memory.oom.group set',
        '3,12,1500,-;Memory cgroup out of memory: Killed process 6 (y) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
        '',
      ].join('\n'),
    ) as [KmsgRecord, KmsgRecord, KmsgRecord];
    expect(a.push(killed)).toEqual([]);
    expect(a.oldestPendingSeq()).toBe(10);
    expect(a.push(tasksIn).map(brief)).toEqual([
      {
        seq: 10,
        pid: 5,
        comm: 'x',
        trigger: 'cgroup',
        taskMemcg: U,
        oomMemcg: U,
        groupKill: U,
        groupMemcg: '/g',
        repeatOfSeq: U,
      },
    ]);
    expect(a.push(member)).toEqual([]);
    expect(a.flush().map((k) => [k.seq, k.groupKill, k.groupMemcg])).toEqual([[12, true, '/g']]);
  });

  it('a held kill is settled by the next OOM record, by any record a second later, or by a flush', () => {
    const killed = (seq: number, usec: number) =>
      `3,${seq},${usec},-;Out of memory: Killed process ${seq} (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0`;
    const a = new OomRecordAssembler(BOOT);
    const [k1, k2, noise, k3] = records(
      [killed(1, 1000), killed(2, 2000), '6,3,1500000,-;eth0: link up', killed(4, 1600000), ''].join('\n'),
    ) as [KmsgRecord, KmsgRecord, KmsgRecord, KmsgRecord];
    expect(a.push(k1)).toEqual([]);
    expect(a.push(k2).map((k) => [k.seq, k.groupMemcg])).toEqual([[1, U]]);
    expect(a.push(noise).map((k) => [k.seq, k.groupMemcg])).toEqual([[2, U]]);
    expect(a.push(k3)).toEqual([]);
    expect(a.flush().map((k) => [k.seq, k.trigger])).toEqual([[4, 'system']]);
  });

  it('5.1+: a victim line after a summary that named another pid, with no Kill process line between, gets nothing from it', () => {
    const recs = records(
      [
        '6,1,10,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/docker/a,task_memcg=/docker/a,task=x,pid=5,uid=0',
        '3,2,20,-;Memory cgroup out of memory: Killed process 9 (y) total-vm:10kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
        '',
      ].join('\n'),
    );
    expect(assemble(recs).map((k) => [k.victim.pid, k.taskMemcg, k.oomMemcg, k.constraint])).toEqual([
      [9, U, U, U],
    ]);
  });

  it('a cut line waits for its rest across an idle flush and past records that do not fit', () => {
    const a = new OomRecordAssembler(BOOT);
    const recs = records(
      [
        '6,1,10,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=',
        '6,2,11,c;link is not ready',
        '6,3,12,-;eth0: link up',
        '6,4,13,c;/docker/a,task_memcg=/docker/a,task=x,pid=5,uid=7',
        '3,5,20,-;Memory cgroup out of memory: Killed process 5 (x) total-vm:10kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:7 pgtables:4kB oom_score_adj:0',
        '',
      ].join('\n'),
    );
    const out: KernelOomKill[] = [];
    for (const [i, r] of recs.entries()) {
      out.push(...a.push(r));
      if (i === 0) out.push(...a.flush());
    }
    out.push(...a.flush());
    expect(out.map((k) => [k.seq, k.taskMemcg, k.oomMemcg, k.constraint])).toEqual([
      [5, '/docker/a', '/docker/a', 'CONSTRAINT_MEMCG'],
    ]);
  });

  it('a cut summary whose rest was lost with other records names nobody', () => {
    const a = new OomRecordAssembler(BOOT);
    const [head, killed] = records(
      [
        '6,1,10,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=',
        '3,9,20,-;Memory cgroup out of memory: Killed process 5 (x) total-vm:10kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:7 pgtables:4kB oom_score_adj:0',
        '',
      ].join('\n'),
    ) as [KmsgRecord, KmsgRecord];
    a.push(head);
    const out = [...a.recordsLost(), ...a.push(killed), ...a.flush()];
    expect(out.map((k) => [k.seq, k.taskMemcg, k.oomMemcg, k.trigger])).toEqual([[9, U, U, 'cgroup']]);
  });

  it('a held group member is pending until settled, and the cursor must stay below it', () => {
    const a = new OomRecordAssembler(BOOT);
    const recs = records(fixture('6.1-group.txt'));
    const upTo = recs.findIndex((r) => r.seq === 8008);
    const out = recs.slice(0, upTo + 1).flatMap((r) => a.push(r));
    expect(out.map((k) => k.seq)).toEqual([8004, 8006]);
    expect(a.oldestPendingSeq()).toBe(8008);
    expect(a.flush().map((k) => k.seq)).toEqual([8008]);
    expect(a.oldestPendingSeq()).toBeUndefined();
  });
});
