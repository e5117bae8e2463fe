import * as fs from 'node:fs';
import { hostOomKills } from '../helpers/cgroup-v1';
import { allocateShell } from '../helpers/docker';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { PODMAN_IMAGE, PodmanService, hasPodman } from '../helpers/podman';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { type PromSample, valueOf } from '../helpers/prom';

/**
 * oomwatch on a host without Docker: a real rootful Podman (Debian's podman, runc, conmon) with its API
 * service on a socket of its own, followed with --podman-socket and --docker-socket none. Podman sends no
 * `oom` event and its State.OOMKilled is false before 5.0: every kill here is seen by the kernel log and the
 * cgroup alone. Containers are named h-podman-<pid>-*; the Podman (storage included) lives in a temporary
 * directory that the suite removes.
 */
jest.setTimeout(180_000);

const TAG = `h-podman-${process.pid}`;

interface OomEventJson {
  scope: string;
  container: { id: string; name: string } | null;
  victim: { comm: string; rss_bytes: number } | null;
}

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  ...hasPodman(),
)('Podman as a source', () => {
  let podman: PodmanService;
  let ow: RunningOomwatch;
  const up = async (): Promise<number | undefined> =>
    valueOf(await ow.scrape(), 'oomwatch_source_up', { source: 'podman' });
  const kills = (s: PromSample[], name: string): number | undefined =>
    valueOf(s, 'oomwatch_container_oom_kills_total', { name });
  const exits = (s: PromSample[], name: string, exitCode: string, oomKilled: string): number | undefined =>
    valueOf(s, 'oomwatch_container_exits_total', { name, exit_code: exitCode, oom_killed: oomKilled });

  /** The kills the kernel counted while each container ran (its cgroup is gone after: /proc/vmstat's count). */
  const kernelKills = new Map<string, number>();

  /** A container OOM-killed at its 32 MB limit (`podman run`, in the foreground): its exit code. */
  const oomKilled = async (name: string, ...args: string[]): Promise<number> => {
    const base = hostOomKills();
    const code = await podman.podmanExitCode(
      'run',
      '--name',
      name,
      '--memory=32m',
      '--memory-swap=32m',
      '--network=none',
      ...args,
      PODMAN_IMAGE,
      'sh',
      '-c',
      allocateShell(100),
    );
    kernelKills.set(name, hostOomKills() - base);
    return code;
  };

  /**
   * The kernel's kills (one, or two when it also takes a process of the allocating pipeline) and exactly one
   * OOM-killed exit 137 on the container's series, still so a little later.
   */
  const countedOnce = async (name: string): Promise<PromSample[]> => {
    const kernel = kernelKills.get(name) ?? 0;
    expect(kernel).toBeGreaterThanOrEqual(1);
    await eventually(
      async () => {
        const s = await ow.scrape();
        return kills(s, name) === kernel && exits(s, name, '137', 'true') === 1 ? true : undefined;
      },
      20_000,
      `${kernel} kill(s) and one OOM-killed exit of ${name}`,
    );
    await new Promise((r) => setTimeout(r, 3000));
    const s = await ow.scrape();
    expect(kills(s, name)).toBe(kernel);
    expect(exits(s, name, '137', 'true')).toBe(1);
    expect(exits(s, name, '137', 'false')).toBeUndefined();
    return s;
  };

  beforeAll(async () => {
    podman = new PodmanService(TAG);
    podman.importImage();
    await podman.startService();
    ow = await startOomwatch({
      args: [
        '--cgroup-root',
        '/sys/fs/cgroup',
        '--interval',
        '1',
        '--kmsg',
        '/dev/kmsg',
        '--docker-socket',
        'none',
        '--podman-socket',
        podman.socket,
      ],
    });
    await eventually(async () => ((await up()) === 1 ? true : undefined), 20_000, 'the Podman source up');
  });
  afterAll(async () => {
    await ow?.stop();
    await podman?.destroy();
  });

  it('follows Podman: source up, the engine told from /version, no Docker source', async () => {
    const s = await ow.scrape();
    expect(valueOf(s, 'oomwatch_source_up', { source: 'podman' })).toBe(1);
    expect(valueOf(s, 'oomwatch_source_up', { source: 'docker' })).toBeUndefined();
    expect(ow.logs.some((l) => l.includes("connected to Podman's Docker-compatible API"))).toBe(true);
  });

  it('--docker-socket pointed at Podman: the same source, named docker, Podman told from /version', async () => {
    const other = await startOomwatch({
      args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '1', '--docker-socket', podman.socket],
    });
    try {
      await eventually(
        async () =>
          valueOf(await other.scrape(), 'oomwatch_source_up', { source: 'docker' }) === 1 ? true : undefined,
        20_000,
        'the Docker source up on the Podman socket',
      );
      expect(other.logs.some((l) => l.includes("connected to Podman's Docker-compatible API"))).toBe(true);
      const name = `${TAG}-via-docker`;
      expect(
        await podman.podmanExitCode(
          'run',
          '--rm',
          '--name',
          name,
          '--network=none',
          PODMAN_IMAGE,
          'sh',
          '-c',
          'exit 4',
        ),
      ).toBe(4);
      await eventually(
        async () => (exits(await other.scrape(), name, '4', 'false') === 1 ? true : undefined),
        15_000,
        `the exit of ${name}`,
      );
    } finally {
      await other.stop();
    }
  });

  it('a named container OOM-killed: one kill on its name, an OOM-killed exit 137, podman-compose labels, the victim', async () => {
    const name = `${TAG}-oom`;
    const code = await oomKilled(
      name,
      '--label',
      `com.docker.compose.project=${TAG}-proj`,
      '--label',
      'com.docker.compose.service=hog',
    );
    expect(code).toBe(137);
    const id = await podman.podman('inspect', '-f', '{{.Id}}', name);
    // What Podman itself says: OOMKilled false (before 5.0), which oomwatch does not take for an answer.
    expect(await podman.podman('inspect', '-f', '{{.State.OOMKilled}}', name)).toBe('false');
    const s = await countedOnce(name);
    expect(
      valueOf(s, 'oomwatch_container_oom_kills_total', {
        name,
        id: id.slice(0, 12),
        image: PODMAN_IMAGE,
        compose_project: `${TAG}-proj`,
        compose_service: 'hog',
      }),
    ).toBe(kernelKills.get(name));
    const events = (await (
      await fetch(`${ow.url}/api/v1/oom-events?container=${id.slice(0, 12)}`)
    ).json()) as { events: OomEventJson[] };
    expect(events.events).toHaveLength(kernelKills.get(name) as number);
    for (const e of events.events) expect(e).toMatchObject({ scope: 'container', container: { name } });
    // The shell holding the allocation is the biggest process: the kernel's first choice.
    const shell = events.events.find((e) => e.victim?.comm === 'sh');
    expect(shell?.victim?.rss_bytes).toBeGreaterThan(16 * 1024 * 1024);
    await podman.podman('rm', name);
  });

  it('a --rm container OOM-killed: counted once although Podman removes it at once', async () => {
    const name = `${TAG}-rm`;
    expect(await oomKilled(name, '--rm')).toBe(137);
    await countedOnce(name);
  });

  it('podman kill: an exit 137 that is not an OOM kill', async () => {
    const name = `${TAG}-kill`;
    await podman.podman('run', '-d', '--name', name, '--network=none', PODMAN_IMAGE, 'sleep', '3600');
    await eventually(
      async () =>
        valueOf(await ow.scrape(), 'oomwatch_container_memory_usage_bytes', { name }) ? true : undefined,
      15_000,
      `the series of ${name}`,
    );
    await podman.podman('kill', name);
    await eventually(
      async () => (exits(await ow.scrape(), name, '137', 'false') === 1 ? true : undefined),
      15_000,
      `the exit of ${name}`,
    );
    const s = await ow.scrape();
    expect(kills(s, name)).toBe(0);
    expect(exits(s, name, '137', 'true')).toBeUndefined();
    await podman.podman('rm', name);
  });

  it('a pod: its container is exported, its infra container is not', async () => {
    const pod = `${TAG}-pod`;
    const name = `${TAG}-inpod`;
    await podman.podman('pod', 'create', '--name', pod, '--network', 'none');
    await podman.podman('run', '-d', '--pod', pod, '--name', name, PODMAN_IMAGE, 'sleep', '3600');
    const infra = await podman.podman('pod', 'inspect', '-f', '{{.InfraContainerID}}', pod);
    const podId = await podman.podman('pod', 'inspect', '-f', '{{.Id}}', pod);
    // The infra container has a cgroup of its own beside the container's: discovery finds both.
    expect(fs.existsSync(`/sys/fs/cgroup/memory/libpod_parent/${podId}/libpod-${infra}`)).toBe(true);
    await eventually(
      async () =>
        valueOf(await ow.scrape(), 'oomwatch_container_memory_usage_bytes', { name }) ? true : undefined,
      15_000,
      `the series of ${name}`,
    );
    await new Promise((r) => setTimeout(r, 2500)); // two more polls
    const s = await ow.scrape();
    expect(s.filter((x) => x.labels['id'] === infra.slice(0, 12))).toEqual([]);
    await podman.podman('pod', 'rm', '-f', '-t', '0', pod);
  });

  it('the API service restarted: source_up 0 then 1, the exit of the outage replayed, a later kill counted once', async () => {
    await podman.stopService();
    await eventually(async () => ((await up()) === 0 ? true : undefined), 20_000, 'the Podman source down');
    // Podman is daemonless: a container runs and exits while its API service is down.
    const during = `${TAG}-during`;
    expect(
      await podman.podmanExitCode(
        'run',
        '--name',
        during,
        '--network=none',
        PODMAN_IMAGE,
        'sh',
        '-c',
        'exit 3',
      ),
    ).toBe(3);
    await podman.startService();
    await eventually(
      async () => ((await up()) === 1 ? true : undefined),
      30_000,
      'the Podman source up again',
    );
    await eventually(
      async () => (exits(await ow.scrape(), during, '3', 'false') === 1 ? true : undefined),
      15_000,
      'the exit that happened while the service was down',
    );
    await podman.podman('rm', during);

    const name = `${TAG}-after`;
    expect(await oomKilled(name)).toBe(137);
    await countedOnce(name);
    await podman.podman('rm', name);
    // One warning for the outage, naming Podman.
    const warnings = ow.logs
      .filter((l) => l.includes('"level":"warn"') && l.includes('"module":"podman"'))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(warnings.filter((m) => m.includes('source down'))).toEqual([
      expect.stringMatching(/^Podman source down: Podman is not reachable at /),
    ]);
  });
});
