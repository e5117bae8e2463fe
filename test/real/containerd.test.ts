import { randomBytes } from 'node:crypto';
import { CONTAINERD_TEST_IMAGE, PrivateContainerd, allocate, hasContainerd } from '../helpers/containerd';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { type PromSample, valueOf } from '../helpers/prom';

/**
 * oomwatch with `--containerd-socket` against a real containerd (Debian's, started privately by the suite:
 * its own socket, root and state, no CRI plugin, runc) and the real kernel, Docker off: containers named as
 * nerdctl names them and as `ctr` users do, OOM-killed at a real 32 MiB limit, killed with SIGKILL, and
 * containerd restarted under oomwatch. Every container is this suite's own (random names), so other suites
 * may run on the host at the same time.
 */
jest.setTimeout(180_000);

const MEMORY_LIMIT = String(32 * 1024 * 1024);
const NS = 'default';
const hex64 = (): string => randomBytes(32).toString('hex');
const tag = randomBytes(3).toString('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ApiEvent {
  scope: string;
  container: { id: string; name: string } | null;
  cgroup: string | null;
  victim: { comm: string; pid: number; rss_bytes: number } | null;
  sources: string[];
}

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  hasContainerd(),
)('containerd: names, OOM kills and exits from a real containerd', () => {
  let ctd: PrivateContainerd;
  let ow: RunningOomwatch;

  const scrape = (): Promise<PromSample[]> => ow.scrape();
  const kills = (s: PromSample[], name: string): number | undefined =>
    valueOf(s, 'oomwatch_container_oom_kills_total', { name });
  const exits = (s: PromSample[], name: string, oomKilled: 'true' | 'false'): number | undefined =>
    valueOf(s, 'oomwatch_container_exits_total', { name, exit_code: '137', oom_killed: oomKilled });
  const sourceUp = async (): Promise<number | undefined> =>
    valueOf(await scrape(), 'oomwatch_source_up', { source: 'containerd' });

  /** Wait for the kill and the exit to be counted, then long enough for a second count to show, and scrape. */
  async function settled(name: string, ok: (s: PromSample[]) => boolean): Promise<PromSample[]> {
    await eventually(async () => (ok(await scrape()) ? true : undefined), 20_000, `${name} counted`);
    await sleep(3000); // a poll or two, the ledger's windows: any double count would show by now
    return scrape();
  }

  async function oomEvents(name: string): Promise<ApiEvent[]> {
    const res = await fetch(`${ow.url}/api/v1/oom-events?container=${encodeURIComponent(name)}`);
    return ((await res.json()) as { events: ApiEvent[] }).events;
  }

  beforeAll(async () => {
    ctd = await PrivateContainerd.create();
    await ctd.importTestImage(NS);
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
        '--containerd-socket',
        ctd.socket,
      ],
    });
    await eventually(
      async () => ((await sourceUp()) === 1 ? true : undefined),
      20_000,
      'the containerd source up',
    );
  });
  afterAll(async () => {
    await ow?.stop();
    await ctd?.destroy();
  });

  it('a container nerdctl-named through its label, OOM-killed at its limit: one kill on that name, exit 137 OOM-killed, the victim in the event log', async () => {
    const id = hex64();
    const name = `ow-ctd-web-${tag}`;
    const r = await ctd.ctr(
      NS,
      'run',
      '--memory-limit',
      MEMORY_LIMIT,
      '--label',
      `nerdctl/name=${name}`,
      '--label',
      'com.docker.compose.project=ow-shop',
      '--label',
      'com.docker.compose.service=cart',
      CONTAINERD_TEST_IMAGE,
      id,
      'sh',
      '-c',
      allocate(100),
    );
    expect(r.code).toBe(137);
    const s = await settled(name, (x) => kills(x, name) === 1 && exits(x, name, 'true') === 1);
    expect(kills(s, name)).toBe(1);
    expect(exits(s, name, 'true')).toBe(1);
    expect(exits(s, name, 'false')).toBeUndefined();
    expect(
      valueOf(s, 'oomwatch_container_oom_kills_total', {
        id: id.slice(0, 12),
        name,
        image: CONTAINERD_TEST_IMAGE,
        compose_project: 'ow-shop',
        compose_service: 'cart',
      }),
    ).toBe(1);
    expect(valueOf(s, 'oomwatch_container_containerd_oom_events_total', { name })).toBeGreaterThanOrEqual(1);
    const events = await oomEvents(name);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      scope: 'container',
      container: { id, name },
      cgroup: `/${NS}/${id}`,
      victim: { comm: 'sh' },
    });
    expect(events[0]?.victim?.rss_bytes).toBeGreaterThan(16 * 1024 * 1024);
    expect(events[0]?.sources).toEqual(expect.arrayContaining(['containerd', 'kmsg']));
  });

  it('ctr run --rm, an id its user chose: counted although the container is gone at once', async () => {
    const name = `ow-ctd-rm-${tag}`;
    const r = await ctd.ctr(
      NS,
      'run',
      '--rm',
      '--memory-limit',
      MEMORY_LIMIT,
      CONTAINERD_TEST_IMAGE,
      name,
      'sh',
      '-c',
      allocate(100),
    );
    expect(r.code).toBe(137);
    expect((await ctd.ctrOk(NS, 'containers', 'ls', '-q')).split('\n')).not.toContain(name);
    const s = await settled(name, (x) => kills(x, name) === 1 && exits(x, name, 'true') === 1);
    expect([kills(s, name), exits(s, name, 'true')]).toEqual([1, 1]);
    expect(valueOf(s, 'oomwatch_container_oom_kills_total', { id: name, name })).toBe(1);
    const events = await oomEvents(name);
    expect(events.map((e) => [e.container?.name, e.cgroup, e.victim?.comm])).toEqual([
      [name, `/${NS}/${name}`, 'sh'],
    ]);
  });

  it("a process exec'd into a live container killed: a kill of the container, which lives on (no exit)", async () => {
    const name = `ow-ctd-live-${tag}`;
    await ctd.ctrOk(
      NS,
      'run',
      '-d',
      '--memory-limit',
      MEMORY_LIMIT,
      CONTAINERD_TEST_IMAGE,
      name,
      'sleep',
      '3600',
    );
    await eventually(
      async () =>
        valueOf(await scrape(), 'oomwatch_container_info', { name, runtime: 'containerd' }) === 1
          ? true
          : undefined,
      15_000,
      'the live container discovered',
    );
    const r = await ctd.ctr(
      NS,
      'tasks',
      'exec',
      '--exec-id',
      `ow-hog-${tag}`,
      name,
      'sh',
      '-c',
      allocate(100),
    );
    expect(r.code).toBe(137);
    const s = await settled(name, (x) => kills(x, name) === 1);
    expect(kills(s, name)).toBe(1);
    expect(valueOf(s, 'oomwatch_container_exits_total', { name })).toBeUndefined();
    expect(valueOf(s, 'oomwatch_container_info', { name })).toBe(1);
    expect(
      (await ctd.ctrOk(NS, 'tasks', 'ls')).match(new RegExp(`${name}\\s+\\d+\\s+RUNNING`)),
    ).not.toBeNull();
    await ctd.ctr(NS, 'tasks', 'kill', '-s', 'SIGKILL', name);
  });

  it('ctr task kill -s SIGKILL: an exit 137, not an OOM kill', async () => {
    const name = `ow-ctd-kill-${tag}`;
    await ctd.ctrOk(NS, 'run', '-d', CONTAINERD_TEST_IMAGE, name, 'sleep', '3600');
    await eventually(
      async () => (valueOf(await scrape(), 'oomwatch_container_info', { name }) === 1 ? true : undefined),
      15_000,
      'the container discovered',
    );
    await ctd.ctrOk(NS, 'tasks', 'kill', '-s', 'SIGKILL', name);
    const s = await settled(name, (x) => exits(x, name, 'false') === 1);
    expect(exits(s, name, 'false')).toBe(1);
    expect(exits(s, name, 'true')).toBeUndefined();
    expect(kills(s, name)).toBe(0);
    expect(await oomEvents(name)).toEqual([]);
  });

  it('containerd restarted under oomwatch: the source goes down and comes back by itself; a later kill is counted once', async () => {
    const seen: number[] = [];
    const sampler = setInterval(() => {
      void sourceUp()
        .then((v) => {
          if (v !== undefined && seen[seen.length - 1] !== v) seen.push(v);
        })
        .catch(() => undefined);
    }, 100);
    try {
      await eventually(() => (seen[0] === 1 ? true : undefined), 5000, 'a first sample');
      await ctd.stop();
      await eventually(() => (seen[seen.length - 1] === 0 ? true : undefined), 15_000, 'the source down');
      await ctd.start();
      await eventually(() => (seen[seen.length - 1] === 1 ? true : undefined), 30_000, 'the source up again');
      expect(seen).toEqual([1, 0, 1]);
    } finally {
      clearInterval(sampler);
    }
    const warnings = ow.logs.filter(
      (l) => l.includes('"level":"warn"') && l.includes('containerd source down'),
    );
    expect(warnings).toHaveLength(1);
    expect(ow.logs.some((l) => l.includes('containerd reachable again'))).toBe(true);

    const id = hex64();
    const name = `ow-ctd-after-${tag}`;
    const r = await ctd.ctr(
      NS,
      'run',
      '--memory-limit',
      MEMORY_LIMIT,
      '--label',
      `nerdctl/name=${name}`,
      CONTAINERD_TEST_IMAGE,
      id,
      'sh',
      '-c',
      allocate(100),
    );
    expect(r.code).toBe(137);
    const s = await settled(name, (x) => kills(x, name) === 1 && exits(x, name, 'true') === 1);
    expect([kills(s, name), exits(s, name, 'true')]).toEqual([1, 1]);
  });
});
