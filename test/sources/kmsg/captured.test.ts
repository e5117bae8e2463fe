import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { KernelOomKill } from '../../../src/accounting/observations';
import { containerFromCgroupPath } from '../../../src/cgroup/container-path';
import { parseMemoryEvents } from '../../../src/cgroup/memory-events';
import { KmsgSource } from '../../../src/sources/kmsg/source';
import { OomRecordAssembler } from '../../../src/sources/kmsg/assembler';
import { KmsgStreamSplitter, type KmsgRecord, parseKmsgRecord } from '../../../src/sources/kmsg/record';
import { FIXTURES } from '../../helpers/paths';

/**
 * The kernel-log parser on OOM reports Debian's 6.1 kernel really wrote under cgroup v2, in the VM:
 * test/fixtures/kmsg/captured-6.1, captured by `npm run fixtures:v2` (test/vm/capture-fixtures.ts; CAPTURED
 * says what each file is), one record a line as /dev/kmsg returned it. The same runs captured the cgroup
 * files of the same containers (test/fixtures/cgroup/v2-captured), so the records and the cgroup counters
 * can be checked against each other.
 *   limit-oom.txt   a 32 MiB limit in docker/<id>: one process killed
 *   group-kill.txt  memory.oom.group=1 in a Kubernetes container: three processes, four `Killed process` records
 *   global-oom.txt  a global OOM (no limit anywhere) killing a process of system.slice/docker-<id>.scope
 */
const KMSG = path.join(FIXTURES, 'kmsg', 'captured-6.1');
const CGROUPS = path.join(FIXTURES, 'cgroup', 'v2-captured');
const BOOT = { bootId: '8d1b5f0e-4a47-4d0e-9a0c-2f3b6c7d8e9f', bootTimeMs: 1_795_900_000_000 };
const KiB = 1024;

interface CapturedContainer {
  tree: string;
  name: string;
  id: string;
  cgroup: string;
  podUid?: string;
}
const containers = JSON.parse(
  fs.readFileSync(path.join(CGROUPS, 'containers.json'), 'utf8'),
) as CapturedContainer[];
const captured = (name: string): CapturedContainer =>
  containers.find((c) => c.name === name) as CapturedContainer;
/** The cgroup as the kernel prints it in `oom_memcg=` and `task_memcg=`: from the root, with a leading slash. */
const memcgOf = (name: string): string => `/${captured(name).cgroup}`;

const fixture = (name: string): string => fs.readFileSync(path.join(KMSG, name), 'latin1');

/** The records of a fixture, cut the way the source cuts a regular file read `chunk` bytes at a time. */
function records(text: string, chunk = text.length): KmsgRecord[] {
  const splitter = new KmsgStreamSplitter();
  const raw: string[] = [];
  for (let i = 0; i < text.length; i += chunk) raw.push(...splitter.push(text.slice(i, i + chunk)));
  raw.push(...splitter.end());
  return raw.map((r) => {
    const p = parseKmsgRecord(r);
    if (!p.ok) throw new Error(p.error);
    return p.value;
  });
}

function kills(text: string, chunk?: number): KernelOomKill[] {
  const assembler = new OomRecordAssembler(BOOT);
  const out = records(text, chunk).flatMap((r) => assembler.push(r));
  return [...out, ...assembler.flush()];
}

const timeOf = (usec: number): number => Math.round(BOOT.bootTimeMs + usec / 1000);

/** The victim as the `Killed process` line gives it (sizes in kB there, in bytes here). */
const victim = (
  pid: number,
  comm: string,
  totalVm: number,
  anonRss: number,
  fileRss: number,
  shmemRss: number,
) => ({
  pid,
  comm,
  uid: 0,
  totalVmBytes: totalVm * KiB,
  anonRssBytes: anonRss * KiB,
  fileRssBytes: fileRss * KiB,
  shmemRssBytes: shmemRss * KiB,
  oomScoreAdj: 0,
});
const AWK_32M = (pid: number) => victim(pid, 'awk', 35156, 32348, 4, 1600);
const SLEEP = (pid: number) => victim(pid, 'sleep', 2260, 4, 0, 0);

describe('the captured 6.1 records', () => {
  it.each(['limit-oom.txt', 'group-kill.txt', 'global-oom.txt'])(
    '%s: every line is one well-formed record, in sequence',
    (file) => {
      const text = fixture(file);
      const recs = records(text);
      expect(recs).toHaveLength(text.split('\n').filter((l) => l !== '').length);
      // one OOM report, contiguous: no record was lost or skipped in the capture
      recs.forEach((r, i) => expect(r.seq).toBe((recs[0] as KmsgRecord).seq + i));
      expect(recs[0]?.message).toMatch(/ invoked oom-killer: /);
    },
  );
});

describe('OomRecordAssembler on the captured 6.1 reports', () => {
  it('limit OOM: one kill, in the container that hit its own limit, with the victim the kernel named', () => {
    const docker = memcgOf('oomed');
    expect(kills(fixture('limit-oom.txt'))).toEqual([
      {
        bootId: BOOT.bootId,
        seq: 415,
        timeMs: timeOf(13382251),
        trigger: 'cgroup',
        constraint: 'CONSTRAINT_MEMCG',
        oomMemcg: docker,
        taskMemcg: docker,
        victim: AWK_32M(163),
      },
    ]);
    expect(containerFromCgroupPath(docker)).toMatchObject({ id: captured('oomed').id, runtime: 'docker' });
  });

  it('group kill: four records, three kills; the members flagged with the group, the repeat with the first record', () => {
    const scope = memcgOf('group');
    const found = kills(fixture('group-kill.txt'));
    const member = {
      trigger: 'cgroup',
      constraint: 'CONSTRAINT_MEMCG',
      oomMemcg: scope,
      groupKill: true,
      groupMemcg: scope,
    };
    expect(found).toEqual([
      // the victim the OOM killer chose, killed before the `Tasks in ... memory.oom.group` line
      {
        bootId: BOOT.bootId,
        seq: 453,
        timeMs: timeOf(13829356),
        trigger: 'cgroup',
        constraint: 'CONSTRAINT_MEMCG',
        oomMemcg: scope,
        taskMemcg: scope,
        victim: AWK_32M(180),
      },
      // then every task of the group, the first victim again
      { bootId: BOOT.bootId, seq: 455, timeMs: timeOf(13829979), ...member, victim: SLEEP(178) },
      { bootId: BOOT.bootId, seq: 456, timeMs: timeOf(13830342), ...member, victim: SLEEP(179) },
      {
        bootId: BOOT.bootId,
        seq: 457,
        timeMs: timeOf(13830709),
        ...member,
        taskMemcg: scope,
        repeatOfSeq: 453,
        victim: AWK_32M(180),
      },
    ]);
    const distinct = found.filter((k) => k.repeatOfSeq === undefined);
    expect(distinct.map((k) => k.victim.pid).sort()).toEqual([178, 179, 180]);
    expect(containerFromCgroupPath(scope)).toMatchObject({
      id: captured('group').id,
      runtime: 'containerd',
      podUid: captured('group').podUid,
      qos: 'burstable',
    });
  });

  it('global OOM: trigger system, no limit named, the victim in its container', () => {
    const scope = memcgOf('victim');
    expect(kills(fixture('global-oom.txt'))).toEqual([
      {
        bootId: BOOT.bootId,
        seq: 427,
        timeMs: timeOf(8470558),
        trigger: 'system',
        constraint: 'CONSTRAINT_NONE',
        taskMemcg: scope,
        victim: victim(112, 'awk', 255148, 252792, 4, 1600),
      },
    ]);
    expect(containerFromCgroupPath(scope)).toMatchObject({ id: captured('victim').id, runtime: 'docker' });
  });

  it.each([
    ['limit-oom.txt', 1],
    ['group-kill.txt', 7],
    ['global-oom.txt', 64],
    ['group-kill.txt', 4096],
  ])('%s read %i bytes at a time gives the same kills', (file, chunk) => {
    expect(kills(fixture(file), chunk)).toEqual(kills(fixture(file)));
  });
});

describe('the records against the cgroup counters of the same containers', () => {
  const eventsOf = (name: string) => {
    const c = captured(name);
    const r = parseMemoryEvents(
      fs.readFileSync(path.join(CGROUPS, c.tree, c.cgroup, 'memory.events'), 'latin1'),
    );
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it.each([
    ['limit-oom.txt', 'oomed'],
    ['group-kill.txt', 'group'],
    ['global-oom.txt', 'victim'],
  ])(
    "%s: memory.events oom_kill of %s counts every Killed process record (a group's repeat included)",
    (file, name) => {
      const found = kills(fixture(file));
      expect(found.every((k) => k.taskMemcg === undefined || k.taskMemcg === memcgOf(name))).toBe(true);
      expect(eventsOf(name).oomKill).toBe(found.length);
    },
  );

  it('a global OOM leaves memory.events oom at 0 where the kill is counted; a limit OOM does not', () => {
    expect(eventsOf('victim')).toMatchObject({ oom: 0, oomKill: 1 });
    expect(eventsOf('oomed').oom).toBeGreaterThanOrEqual(1);
    expect(eventsOf('group')).toMatchObject({ oom: 1, oomGroupKill: 1 });
  });
});

describe('KmsgSource on the captured records of one boot', () => {
  // limit-oom.txt and group-kill.txt come from the same boot, one after the other (seq 379-415, 416-457).
  let dir: string;
  let source: KmsgSource | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-kmsg-captured-'));
    fs.mkdirSync(path.join(dir, 'proc', 'sys', 'kernel', 'random'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'proc', 'sys', 'kernel', 'random', 'boot_id'), `${BOOT.bootId}\n`);
    fs.writeFileSync(path.join(dir, 'proc', 'uptime'), '20.50 30.10\n');
    fs.writeFileSync(path.join(dir, 'proc', 'stat'), 'cpu  1 2 3\nbtime 1795900000\nprocesses 100\n');
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('delivers the limit OOM and the group kill in kernel order, each record once, with its cursor at the last', () => {
    const file = path.join(dir, 'kmsg');
    fs.writeFileSync(file, fixture('limit-oom.txt') + fixture('group-kill.txt'));
    const delivered: KernelOomKill[] = [];
    source = new KmsgSource({
      path: file,
      procRoot: path.join(dir, 'proc'),
      log: pino({ level: 'silent' }),
      onKill: (k) => delivered.push(k),
    });
    source.poll();
    source.poll();
    const expected = [...kills(fixture('limit-oom.txt')), ...kills(fixture('group-kill.txt'))];
    expect(
      delivered.map((k) => [k.seq, k.victim.pid, k.trigger, k.groupKill ?? false, k.repeatOfSeq]),
    ).toEqual(expected.map((k) => [k.seq, k.victim.pid, k.trigger, k.groupKill ?? false, k.repeatOfSeq]));
    expect(delivered.map(({ timeMs: _t, ...k }) => k)).toEqual(expected.map(({ timeMs: _t, ...k }) => k));
    expect(source.cursor).toEqual({ bootId: BOOT.bootId, seq: 457 });
    expect(source.stats).toMatchObject({ oomKillRecords: 5, malformedRecords: 0, recordsLost: 0 });
  });
});
