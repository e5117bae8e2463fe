import * as fs from 'node:fs';
import * as path from 'node:path';
import { V1Cgroups, allocateScript, randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';

/**
 * The real kernel: a memory cgroup in Docker's cgroupfs layout on this machine's v1 hierarchy, a limit,
 * a process that allocates past it and is OOM-killed. /metrics must show the limit, the usage, and the
 * kernel's own oom_kill count.
 */
describeIf(isRoot(), hasV1MemoryCgroup())('real v1 memory cgroup in the Docker cgroupfs layout', () => {
  const cgroups = new V1Cgroups();
  let ow: RunningOomwatch;
  /** A second instance that also reads the kernel log, polling slowly. */
  let kmsgOw: RunningOomwatch;
  const id = randomHex(64);
  const short = id.slice(0, 12);
  const limit = 48 * 1024 * 1024;
  let dir: string;

  beforeAll(async () => {
    dir = cgroups.make(`docker/${id}`, limit);
    ow = await startOomwatch({
      args: [
        '--cgroup-root',
        '/sys/fs/cgroup',
        '--interval',
        '0.5',
        '--docker-socket',
        'none',
        '--kmsg',
        'none',
      ],
    });
    kmsgOw = await startOomwatch({
      args: [
        '--cgroup-root',
        '/sys/fs/cgroup',
        '--interval',
        '5',
        '--docker-socket',
        'none',
        '--kmsg',
        '/dev/kmsg',
      ],
    });
  });
  afterAll(async () => {
    await ow?.stop();
    await kmsgOw?.stop();
    cgroups.cleanup();
  });

  it('exports the limit and the usage of a container cgroup with a process in it', async () => {
    const { child } = cgroups.runIn(dir, allocateScript(16));
    // The shell grows its buffer to 16 MB in steps (usage swings while it does): wait until the kernel's figure
    // holds still, then for a poll that read it, and compare that poll with the kernel.
    const kernelUsage = (): number =>
      Number(fs.readFileSync(path.join(dir, 'memory.usage_in_bytes'), 'utf8'));
    let previous = -1;
    await eventually(
      async () => {
        const now = kernelUsage();
        const settled = now > 12 * 1024 * 1024 && Math.abs(now - previous) < 256 * 1024;
        previous = now;
        return settled ? true : undefined;
      },
      30_000,
      'the allocation done (usage above 12 MB and still for a moment)',
    );
    const polls = valueOf(await ow.scrape(), 'oomwatch_polls_total') ?? 0;
    const samples = await eventually(
      async () => {
        const s = await ow.scrape();
        return (valueOf(s, 'oomwatch_polls_total') ?? 0) > polls ? s : undefined;
      },
      15_000,
      'a poll after the allocation',
    );
    const usage = valueOf(samples, 'oomwatch_container_memory_usage_bytes', { id: short }) as number;
    expect(valueOf(samples, 'oomwatch_container_memory_limit_bytes', { id: short })).toBe(limit);
    // usage moves a little between the poll and this read; both are well above the allocation
    expect(usage).toBeGreaterThan(12 * 1024 * 1024);
    expect(Math.abs(usage - kernelUsage())).toBeLessThan(4 * 1024 * 1024);
    expect(valueOf(samples, 'oomwatch_container_memory_unlimited', { id: short })).toBe(0);
    const ratio = valueOf(samples, 'oomwatch_container_memory_limit_ratio', { id: short }) as number;
    expect(ratio).toBeGreaterThan(0.2);
    expect(ratio).toBeLessThan(1);
    child.kill('SIGKILL');
  });

  it('counts an OOM kill exactly as the kernel does', async () => {
    const { exited } = cgroups.runIn(dir, allocateScript(100));
    const result = await exited;
    expect(result.signal ?? result.code).toEqual(expect.anything());
    const oomControl = fs.readFileSync(path.join(dir, 'memory.oom_control'), 'utf8');
    const kernelKills = Number(/oom_kill (\d+)/.exec(oomControl)?.[1]);
    expect(kernelKills).toBeGreaterThanOrEqual(1);
    const counted = await eventually(
      async () => {
        const v = valueOf(await ow.scrape(), 'oomwatch_container_cgroup_oom_kills_total', { id: short });
        return v === kernelKills ? v : undefined;
      },
      10_000,
      `cgroup_oom_kills_total to reach ${kernelKills}`,
    );
    expect(counted).toBe(kernelKills);
    // With the kernel log and Docker off, the fused counter comes from the cgroup counter alone.
    expect(valueOf(await ow.scrape(), 'oomwatch_container_oom_kills_total', { id: short })).toBe(kernelKills);
    const res = await fetch(`${ow.url}/api/v1/oom-events?container=${short}`);
    const body = (await res.json()) as {
      events: Array<{ scope: string; sources: string[]; container: { id: string } }>;
    };
    expect(body.events).toHaveLength(kernelKills);
    expect(body.events[0]).toMatchObject({ scope: 'container', sources: ['cgroup'], container: { id: id } });

    // With the kernel log, the same kills are counted once each, and the event names the victim and its rss.
    const withKmsg = await eventually(
      async () => {
        const r = await fetch(`${kmsgOw.url}/api/v1/oom-events?container=${short}`);
        const b = (await r.json()) as {
          events: Array<{ sources: string[]; victim: { comm: string; rss_bytes: number } | null }>;
        };
        return b.events.length === kernelKills &&
          b.events.every((e) => e.sources.includes('kmsg') && e.sources.includes('cgroup'))
          ? b.events
          : undefined;
      },
      15_000,
      'kernel-log events confirmed by the cgroup counter',
    );
    expect(withKmsg[0]?.victim?.comm).toBe('sh');
    expect(withKmsg[0]?.victim?.rss_bytes).toBeGreaterThan(16 * 1024 * 1024);
    expect(valueOf(await kmsgOw.scrape(), 'oomwatch_container_oom_kills_total', { id: short })).toBe(
      kernelKills,
    );
  });
});
