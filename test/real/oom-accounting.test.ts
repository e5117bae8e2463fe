import { V1Cgroups, allocateScript, hostOomKills, kernelOomKills, randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import {
  allocateShell,
  docker,
  ensureDockerd,
  ensureTestImage,
  removeTestContainers,
  runContainer,
  waitExit,
} from '../helpers/docker';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { type PromSample, findSamples, valueOf } from '../helpers/prom';

/**
 * The OOM accounting contract against the real kernel and the real Docker Engine: each kill counted exactly
 * once, on the right container, whatever the container does next; exits kept apart from kills.
 */
const dockerReady = ensureDockerd();

const kills = (samples: PromSample[], name: string): number | undefined =>
  valueOf(samples, 'oomwatch_container_oom_kills_total', { name });
const exits = (samples: PromSample[], name: string, code: string, oom: string): number | undefined =>
  valueOf(samples, 'oomwatch_container_exits_total', { name, exit_code: code, oom_killed: oom });

/**
 * Allocate past a 32 MB limit: the shell is OOM-killed, the container exits 137. The kernel may kill a second
 * process of the pipeline before the first one's memory is back (each a kill it counts itself), so tests compare
 * with the kernel's own count (hostOomKills, across the test) rather than with 1.
 */
const OOM_ARGS = ['--memory=32m', '--memory-swap=32m'];
const OOM_CMD = allocateShell(100);

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  dockerReady,
)('OOM accounting on the real kernel and Docker Engine', () => {
  let ow: RunningOomwatch;
  const unique = `acct-${randomHex(6)}`;

  beforeAll(async () => {
    ensureTestImage();
    ow = await startOomwatch({
      args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '2', '--kmsg', '/dev/kmsg'],
    });
    await eventually(
      async () =>
        valueOf(await ow.scrape(), 'oomwatch_source_up', { source: 'docker' }) === 1 ? true : undefined,
      15_000,
      'docker source up',
    );
  });
  afterAll(async () => {
    await ow?.stop();
    await removeTestContainers();
  });

  it("docker run --rm past its limit: the kernel's kills and one OOM exit, on /metrics within 2 s", async () => {
    const name = `${unique}-rm`;
    const base = hostOomKills();
    const id = await runContainer({ name, rm: true, args: OOM_ARGS, cmd: OOM_CMD });
    const seen = await eventually(
      async () => {
        const s = await ow.scrape();
        return (kills(s, name) ?? 0) >= 1 && exits(s, name, '137', 'true') === 1 ? Date.now() : undefined;
      },
      10_000,
      'the kill and the exit on /metrics',
    );
    await waitForGone(id);
    // The kill's time is the kernel's own (the kernel-log record), not when oomwatch saw it.
    const [event] = await oomEvents(ow, name);
    expect(seen - Date.parse(event?.time ?? '')).toBeLessThan(2000);
    // Two polls later nothing moved: each kill was counted once, not again by another source.
    await sleep(4500);
    const kernel = hostOomKills() - base;
    const s = await ow.scrape();
    expect(kernel).toBeGreaterThanOrEqual(1);
    expect(kills(s, name)).toBe(kernel);
    expect(exits(s, name, '137', 'true')).toBe(1);
    expect(exits(s, name, '137', 'false')).toBeUndefined();
    const events = await oomEvents(ow, name);
    expect(events).toHaveLength(kernel);
    for (const e of events) expect(e).toMatchObject({ scope: 'container', container: { name } });
    // The shell holding the allocation is the biggest process: the kernel's first choice.
    const shell = events.find((e) => e.victim?.comm === 'sh');
    expect(shell?.victim?.rss_bytes).toBeGreaterThan(16 * 1024 * 1024);
    const last = findSamples(s, 'oomwatch_container_last_oom_kill_info', { name, scope: 'container' });
    expect(last).toHaveLength(1);
    expect(events.map((e) => e.victim?.comm)).toContain(last[0]?.labels['victim_comm']);
  });

  it("a child process OOM-killed while the container lives on: the kernel's kills, no exit", async () => {
    const name = `${unique}-child`;
    const base = hostOomKills();
    // The main process sleeps; a child allocates past the limit and is the one killed.
    await runContainer({ name, args: OOM_ARGS, cmd: `(${allocateShell(100)}) & sleep 3600` });
    await eventually(
      async () => ((kills(await ow.scrape(), name) ?? 0) >= 1 ? true : undefined),
      15_000,
      'the child kill',
    );
    await sleep(4500);
    const kernel = hostOomKills() - base;
    const s = await ow.scrape();
    expect(kernel).toBeGreaterThanOrEqual(1);
    expect(kills(s, name)).toBe(kernel);
    expect(valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', { name })).toBe(kernel);
    expect(findSamples(s, 'oomwatch_container_exits_total', { name })).toHaveLength(0);
    expect(valueOf(s, 'oomwatch_container_memory_usage_bytes', { name })).toBeGreaterThan(0);
  });

  it('docker kill of a sleeping container: an exit 137 that is not an OOM kill', async () => {
    const name = `${unique}-kill`;
    const id = await runContainer({ name, cmd: 'sleep 3600' });
    await eventually(
      async () => (kills(await ow.scrape(), name) === 0 ? true : undefined),
      10_000,
      'the container at 0 kills',
    );
    await docker('kill', id);
    await eventually(
      async () => (exits(await ow.scrape(), name, '137', 'false') === 1 ? true : undefined),
      10_000,
      'the exit',
    );
    const s = await ow.scrape();
    expect(kills(s, name)).toBe(0);
    expect(exits(s, name, '137', 'true')).toBeUndefined();
  });

  it("20 containers OOM-killed at once: the kernel's kills, each on its own container, each exit once", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `${unique}-many-${i}`);
    const base = hostOomKills();
    await Promise.all(
      names.map((name) => runContainer({ name, args: OOM_ARGS, cmd: `sleep 2; ${OOM_CMD}` })),
    );
    await eventually(
      async () => {
        const s = await ow.scrape();
        return names.every((n) => (kills(s, n) ?? 0) >= 1 && exits(s, n, '137', 'true') === 1)
          ? true
          : undefined;
      },
      30_000,
      'a kill and an OOM exit on each of the 20 containers',
    ).catch(() => undefined); // on a timeout the per-container assertions below say which container has what
    await sleep(6000);
    const kernel = hostOomKills() - base;
    const s = await ow.scrape();
    let counted = 0;
    for (const n of names) {
      const k = kills(s, n) ?? 0;
      counted += k;
      expect({ name: n, killed: k >= 1, exits: exits(s, n, '137', 'true') }).toEqual({
        name: n,
        killed: true,
        exits: 1,
      });
      // Each kill is its own event in the log, with its own victim.
      const events = await oomEvents(ow, n);
      expect({ name: n, events: events.length }).toEqual({ name: n, events: k });
      expect(new Set(events.map((e) => e.victim?.pid)).size).toBe(k);
    }
    expect(counted).toBe(kernel);
  });

  it('a process OOM-killed in a memory cgroup that is not a container: scope other, no container changes', async () => {
    const cg = new V1Cgroups();
    try {
      const before = await ow.scrape();
      const other = valueOf(before, 'oomwatch_oom_kills_total', { scope: 'other' }) as number;
      const containerKillsBefore = findSamples(before, 'oomwatch_container_oom_kills_total').reduce(
        (a, x) => a + x.value,
        0,
      );
      const dir = cg.make(`oomwatch-test-${randomHex(8)}`, 32 * 1024 * 1024);
      const { exited } = cg.runIn(dir, allocateScript(100));
      await exited;
      const kills = kernelOomKills(dir); // the workload may lose more than one process
      expect(kills).toBeGreaterThanOrEqual(1);
      const after = await eventually(
        async () => {
          const s = await ow.scrape();
          return (valueOf(s, 'oomwatch_oom_kills_total', { scope: 'other' }) as number) >= other + kills
            ? s
            : undefined;
        },
        10_000,
        `scope other +${kills}`,
      );
      expect(valueOf(after, 'oomwatch_oom_kills_total', { scope: 'other' })).toBe(other + kills);
      expect(findSamples(after, 'oomwatch_container_oom_kills_total').reduce((a, x) => a + x.value, 0)).toBe(
        containerKillsBefore,
      );
    } finally {
      cg.cleanup();
    }
  });
});

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  dockerReady,
)('kills while oomwatch is down, and without the kernel log', () => {
  afterAll(removeTestContainers);

  it('oomwatch stopped, a container OOM-killed, oomwatch started again: counted, no counter went back', async () => {
    ensureTestImage();
    const name = `down-${randomHex(6)}`;
    const args = ['--cgroup-root', '/sys/fs/cgroup', '--interval', '1', '--kmsg', '/dev/kmsg'];
    let ow = await startOomwatch({ args });
    const stateDir = ow.stateDir;
    const base = hostOomKills();
    const id = await runContainer({ name, args: OOM_ARGS, cmd: `sleep 3; ${OOM_CMD}` });
    await eventually(
      async () => (kills(await ow.scrape(), name) === 0 ? true : undefined),
      10_000,
      'the container at 0',
    );
    const before = await ow.scrape();
    expect(await ow.stop()).toBe(0);

    expect(await waitExit(id)).toBe(137); // killed while oomwatch is down

    const kernel = hostOomKills() - base;
    ow = await startOomwatch({ args, stateDir });
    try {
      await eventually(
        async () => (kills(await ow.scrape(), name) === kernel ? true : undefined),
        15_000,
        `the ${kernel} kill(s) the kernel counted, after the restart`,
      );
      await sleep(3000);
      const after = await ow.scrape();
      expect(kernel).toBeGreaterThanOrEqual(1);
      expect(kills(after, name)).toBe(kernel);
      expect(exits(after, name, '137', 'true')).toBe(1);
      // No counter went backwards across the restart.
      for (const b of before.filter((x) => x.name.endsWith('_total') && x.labels['name'] === name)) {
        const a = valueOf(after, b.name, b.labels);
        expect({ series: b.name, value: a }).toEqual({ series: b.name, value: expect.any(Number) });
        expect(a as number).toBeGreaterThanOrEqual(b.value);
      }
      expect(valueOf(after, 'oomwatch_oom_kills_total', { scope: 'container' })).toBeGreaterThanOrEqual(
        valueOf(before, 'oomwatch_oom_kills_total', { scope: 'container' }) as number,
      );
    } finally {
      await ow.stop();
    }
  });

  it("kmsg unavailable: kills counted from cgroup counters and Docker's oom events, none lost host-wide; source_up{kmsg} is 0", async () => {
    ensureTestImage();
    const ow = await startOomwatch({
      args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '1', '--kmsg', '/nonexistent/kmsg'],
    });
    try {
      await eventually(
        async () =>
          valueOf(await ow.scrape(), 'oomwatch_source_up', { source: 'docker' }) === 1 ? true : undefined,
        15_000,
        'docker up',
      );
      expect(valueOf(await ow.scrape(), 'oomwatch_source_up', { source: 'kmsg' })).toBe(0);
      const rm = `nokmsg-rm-${randomHex(6)}`;
      const kept = `nokmsg-kept-${randomHex(6)}`;
      const sinceS = Math.floor(Date.now() / 1000) - 1;
      const base = hostOomKills();
      const countedBefore = allScopes(await ow.scrape());
      const rmId = await runContainer({ name: rm, rm: true, args: OOM_ARGS, cmd: OOM_CMD });
      await runContainer({ name: kept, args: OOM_ARGS, cmd: `(${allocateShell(100)}) & sleep 3600` });
      await waitForGone(rmId);
      await eventually(
        async () =>
          (valueOf(await ow.scrape(), 'oomwatch_container_cgroup_oom_kills_total', { name: kept }) ?? 0) >= 1
            ? true
            : undefined,
        15_000,
        "the kept container's kill in its cgroup's count",
      );
      // Whether Docker reported the --rm container's OOM at all: containerd drops the notification of a cgroup
      // it has already deleted, which a container killed and removed at once can race (seen here under load).
      const dockerOoms = (
        await docker(
          'events',
          '--since',
          String(sinceS),
          '--until',
          String(Math.ceil(Date.now() / 1000)),
          '--filter',
          `container=${rmId}`,
          '--filter',
          'event=oom',
          '--format',
          '{{.Action}}',
        )
      )
        .split('\n')
        .filter(Boolean).length;
      // Nothing is lost host-wide: every kill the kernel counted is counted somewhere, at the latest by the
      // /proc/vmstat reconciliation (scope other) two polls after no source explained it.
      await eventually(
        async () => {
          const counted = allScopes(await ow.scrape()) - countedBefore;
          const kernel = hostOomKills() - base;
          if (counted === kernel) return true;
          throw new Error(`oomwatch counted ${counted} kills across scopes, the kernel ${kernel}`);
        },
        10_000,
        'every kill the kernel counted',
      );
      const kernel = hostOomKills() - base;
      const s = await ow.scrape();
      // The living container's kills are its cgroup's own count, exactly.
      const keptKills = valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', { name: kept }) ?? 0;
      expect(keptKills).toBeGreaterThanOrEqual(1);
      expect(kills(s, kept)).toBe(keptKills);
      // The --rm container's cgroup is gone before a poll can read it: its kill is the container's when Docker
      // reported the OOM, and never more kills than the kernel counted.
      if (dockerOoms > 0) expect(kills(s, rm)).toBeGreaterThanOrEqual(1);
      expect((kills(s, rm) ?? 0) + keptKills).toBeLessThanOrEqual(kernel);
    } finally {
      await ow.stop();
    }
  });
});

interface ApiEvent {
  time: string;
  scope: string;
  container: { name: string } | null;
  victim: { pid: number; comm: string; rss_bytes: number } | null;
}

async function oomEvents(ow: RunningOomwatch, container: string): Promise<ApiEvent[]> {
  const res = await fetch(`${ow.url}/api/v1/oom-events?container=${encodeURIComponent(container)}`);
  return ((await res.json()) as { events: ApiEvent[] }).events;
}

/** Wait until the container is gone from `docker ps -a` (a --rm container after its exit); returns when. */
async function waitForGone(id: string): Promise<number> {
  for (;;) {
    const out = await docker('ps', '-aq', '--no-trunc', '--filter', `id=${id}`);
    if (out === '') return Date.now();
    await sleep(50);
  }
}

/** oomwatch_oom_kills_total summed over its scopes (container, system, other). */
function allScopes(samples: PromSample[]): number {
  return findSamples(samples, 'oomwatch_oom_kills_total').reduce((sum, x) => sum + x.value, 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
