import { V1Cgroups, allocateScript, kernelOomKills, randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { type PromSample, valueOf } from '../helpers/prom';

/**
 * The real kernel's v1 memory hierarchy, oomwatch running on /sys/fs/cgroup without a restart: containers
 * (Docker's cgroupfs layout and Podman's systemd layout, with ids made up for this test) appear on /metrics
 * when their cgroup is created and leave it when it is removed; the gauges go at once, the counters stay for
 * --series-grace so their last increments are scraped, then go too. Assertions are about this test's own
 * cgroups only: other tests create and remove cgroups on the same machine at the same time.
 */
const GRACE_MS = 4000;

describeIf(isRoot(), hasV1MemoryCgroup())('containers appearing and disappearing on the real v1 tree', () => {
  const cgroups = new V1Cgroups();
  let ow: RunningOomwatch;
  const docker = randomHex(64);
  const podman = randomHex(64);
  const has = (s: PromSample[], name: string, id: string): boolean =>
    valueOf(s, name, { id: id.slice(0, 12) }) !== undefined;

  beforeAll(async () => {
    ow = await startOomwatch({
      args: [
        '--cgroup-root',
        '/sys/fs/cgroup',
        '--interval',
        '300ms',
        '--series-grace',
        `${GRACE_MS}ms`,
        '--docker-socket',
        'none',
        '--kmsg',
        'none',
      ],
    });
  });
  afterAll(async () => {
    await ow?.stop();
    cgroups.cleanup();
  });

  it('sees a new container in the Docker cgroupfs layout without a restart, with its limit and usage', async () => {
    const dir = cgroups.make(`docker/${docker}`, 64 * 1024 * 1024);
    cgroups.runIn(dir, allocateScript(8));
    const s = await eventually(
      async () => {
        const x = await ow.scrape();
        return (valueOf(x, 'oomwatch_container_memory_usage_bytes', { id: docker.slice(0, 12) }) ?? 0) >
          6 * 1024 * 1024
          ? x
          : undefined;
      },
      15_000,
      'the new container with its usage',
    );
    expect(valueOf(s, 'oomwatch_container_memory_limit_bytes', { id: docker.slice(0, 12) })).toBe(
      64 * 1024 * 1024,
    );
    expect(valueOf(s, 'oomwatch_container_info', { id: docker.slice(0, 12), runtime: 'docker' })).toBe(1);
    // a new container's counters start at 0, so its first OOM kill is an increase
    expect(valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', { id: docker.slice(0, 12) })).toBe(0);
  });

  it('sees a container in the Podman systemd layout, beside its conmon scope', async () => {
    cgroups.make(`machine.slice/libpod-${podman}.scope`);
    cgroups.make(`machine.slice/libpod-conmon-${podman}.scope`);
    const s = await eventually(
      async () => {
        // Its identity and its first reading: a poll of a host with many containers yields between
        // batches, so a scrape may see a new container discovered and not yet read.
        const x = await ow.scrape();
        return has(x, 'oomwatch_container_info', podman) &&
          valueOf(x, 'oomwatch_container_memory_unlimited', { id: podman.slice(0, 12) }) !== undefined
          ? x
          : undefined;
      },
      10_000,
      'the Podman container, read',
    );
    expect(valueOf(s, 'oomwatch_container_info', { id: podman.slice(0, 12), runtime: 'podman' })).toBe(1);
    expect(valueOf(s, 'oomwatch_container_memory_unlimited', { id: podman.slice(0, 12) })).toBe(1);
  });

  it('drops the gauges of a removed container at once, keeps its counters for --series-grace, then drops them', async () => {
    // an OOM kill first, so the counter that must survive the grace period is not just 0
    const dir = cgroups.make(`docker/${docker}`);
    const killer = cgroups.runIn(dir, allocateScript(100));
    await killer.exited;
    const kills = kernelOomKills(dir);
    expect(kills).toBeGreaterThanOrEqual(1);
    await eventually(
      async () => {
        return valueOf(await ow.scrape(), 'oomwatch_container_cgroup_oom_kills_total', {
          id: docker.slice(0, 12),
        }) === kills
          ? true
          : undefined;
      },
      10_000,
      'the OOM kill counted',
    );

    const removedAt = Date.now();
    cgroups.remove(`/sys/fs/cgroup/memory/docker/${docker}`);
    const during = await eventually(
      async () => {
        const x = await ow.scrape();
        return has(x, 'oomwatch_container_info', docker) ? undefined : x;
      },
      5_000,
      'the gauges gone',
    );
    const id = { id: docker.slice(0, 12) };
    expect(Date.now() - removedAt).toBeLessThan(GRACE_MS);
    expect(valueOf(during, 'oomwatch_container_memory_usage_bytes', id)).toBeUndefined();
    expect(valueOf(during, 'oomwatch_container_memory_limit_bytes', id)).toBeUndefined();
    expect(valueOf(during, 'oomwatch_container_cgroup_oom_kills_total', id)).toBe(kills);
    expect(valueOf(during, 'oomwatch_container_oom_kills_total', id)).toBe(kills);
    expect(valueOf(during, 'oomwatch_container_memory_limit_hits_total', id)).toBeDefined();
    // the other container is untouched
    expect(has(during, 'oomwatch_container_info', podman)).toBe(true);

    const after = await eventually(
      async () => {
        const x = await ow.scrape();
        return x.some((sample) => sample.labels['id'] === id.id) ? undefined : x;
      },
      GRACE_MS + 5_000,
      'every series of the removed container gone',
    );
    expect(Date.now() - removedAt).toBeGreaterThanOrEqual(GRACE_MS);
    expect(after.filter((x) => x.labels['id'] === id.id)).toEqual([]);
  });
});
