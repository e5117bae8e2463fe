import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { KernelOomKill } from '../../src/accounting/observations';
import { type KmsgCursor, KmsgSource } from '../../src/sources/kmsg/source';
import { V1Cgroups, randomHex } from '../helpers/cgroup-v1';
import { eventually } from '../helpers/daemon';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';

/**
 * The real kernel and the real /dev/kmsg: a process OOM-killed in a v1 memory cgroup in Docker's cgroupfs
 * layout is delivered once, with its cgroups, pid, comm and anon-rss, and a restart from the cursor does not
 * deliver it again. Other suites and other users OOM-kill processes on this host at the same time: only the
 * kill of this test's process is looked at.
 */
describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
)('KmsgSource on the real /dev/kmsg', () => {
  const cgroups = new V1Cgroups();
  const limit = 32 * 1024 * 1024;
  const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  let work: string;
  const running: KmsgSource[] = [];

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-kmsg-real-'));
  });
  afterAll(async () => {
    for (const s of running) await s.stop();
    cgroups.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });

  function start(kills: KernelOomKill[], cursor?: KmsgCursor): KmsgSource {
    const s = new KmsgSource({
      path: '/dev/kmsg',
      procRoot: '/proc',
      log: pino({ level: 'silent' }),
      onKill: (k) => kills.push(k),
      pollIntervalMs: 50,
      ...(cursor ? { cursor } : {}),
    });
    running.push(s);
    void s.start();
    return s;
  }

  /** Wait until a source has read at least up to `seq` (it replays the whole ring when it starts). */
  const caughtUp = (s: KmsgSource, seq: number) =>
    eventually(
      () => ((s.cursor?.seq ?? -1) >= seq ? true : undefined),
      10_000,
      `the source to read up to seq ${seq}`,
    );

  /**
   * OOM-kill `tail /dev/zero`, named by a symlink so that its comm is ours, in a fresh container cgroup. When
   * other OOMs on the host have used up the kernel's 10 headers per 5 s, the `oom-kill:` line of ours is
   * dropped and the kill arrives without its cgroups: wait out the rate limit and do it again.
   */
  async function oomKill(
    kills: KernelOomKill[],
  ): Promise<{ kill: KernelOomKill; memcg: string; pid: number; comm: string; killedAtMs: number }> {
    for (let attempt = 1; ; attempt++) {
      const id = randomHex(64);
      const dir = cgroups.make(`docker/${id}`, limit);
      const comm = `oomw-${randomHex(10)}`; // 15 bytes: the kernel keeps all of it
      const exe = path.join(work, comm);
      fs.symlinkSync('/usr/bin/tail', exe);
      const { child, exited } = cgroups.runIn(dir, `exec ${exe} /dev/zero`);
      const result = await exited;
      const killedAtMs = Date.now();
      expect(result.signal).toBe('SIGKILL');
      const pid = child.pid as number;
      const kill = await eventually(
        () => kills.find((k) => k.victim.pid === pid && k.victim.comm === comm),
        10_000,
        `the kill of ${comm} (${pid})`,
      );
      const memcg = `/docker/${id}`;
      if (kill.taskMemcg !== undefined || attempt === 3) return { kill, memcg, pid, comm, killedAtMs };
      console.warn(
        `the kernel rate-limited the oom-kill: line of attempt ${attempt}; trying again after its 5 s interval`,
      );
      await new Promise((r) => setTimeout(r, 5500));
    }
  }

  let first: KmsgSource;
  let victim: Awaited<ReturnType<typeof oomKill>>;

  it('delivers exactly one KernelOomKill with the cgroups, pid, comm and anon-rss of the killed process', async () => {
    expect(fs.existsSync('/usr/bin/tail')).toBe(true);
    const kills: KernelOomKill[] = [];
    first = start(kills);
    victim = await oomKill(kills);
    await new Promise((r) => setTimeout(r, 500)); // anything delivered twice would be here by now
    const ours = kills.filter((k) => k.victim.pid === victim.pid && k.victim.comm === victim.comm);
    expect(ours).toHaveLength(1);
    const k = ours[0] as KernelOomKill;
    expect(k).toMatchObject({
      bootId,
      trigger: 'cgroup',
      constraint: 'CONSTRAINT_MEMCG',
      taskMemcg: victim.memcg,
      oomMemcg: victim.memcg,
      victim: { pid: victim.pid, comm: victim.comm, uid: 0, oomScoreAdj: 0 },
    });
    expect(k.groupKill).toBeUndefined();
    // tail holds what it read: its anon-rss is most of the 32 MiB limit, never more.
    expect(k.victim.anonRssBytes).toBeGreaterThan(limit / 2);
    expect(k.victim.anonRssBytes).toBeLessThanOrEqual(limit);
    // The record's time (boot time + usec) is the moment of the kill, give or take the uptime's 10 ms.
    expect(Math.abs(k.timeMs - victim.killedAtMs)).toBeLessThan(2000);
    // The kernel's own counter of the cgroup agrees.
    const dir = path.join('/sys/fs/cgroup/memory', victim.memcg);
    expect(/oom_kill (\d+)/.exec(fs.readFileSync(path.join(dir, 'memory.oom_control'), 'utf8'))?.[1]).toBe(
      '1',
    );
    expect(first.up).toBe(true);
    expect(first.cursor?.bootId).toBe(bootId);
    expect(first.cursor?.seq).toBeGreaterThanOrEqual(k.seq);
  });

  it('a restart from the cursor does not deliver it again; a start without one does', async () => {
    const cursor = first.cursor as KmsgCursor;
    await first.stop();

    const resumed: KernelOomKill[] = [];
    const again = start(resumed, cursor);
    await caughtUp(again, cursor.seq);
    await new Promise((r) => setTimeout(r, 200)); // one more idle poll settles anything held
    expect(resumed.filter((k) => k.victim.pid === victim.pid && k.victim.comm === victim.comm)).toEqual([]);
    // Everything it did deliver is newer than the cursor (other OOMs on the host meanwhile).
    for (const k of resumed) expect(k.seq).toBeGreaterThan(cursor.seq);
    expect(again.stats.recordsLost).toBe(0);

    const fresh: KernelOomKill[] = [];
    const replay = start(fresh);
    await caughtUp(replay, cursor.seq);
    expect(fresh.filter((k) => k.victim.pid === victim.pid && k.victim.comm === victim.comm)).toHaveLength(1);
  });
});
