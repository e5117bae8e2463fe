import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { shortId } from '../../../src/cgroup/container-path';
import { type ContainerdSource, containerdSourceFromConfig } from '../../../src/sources/containerd';
import { messageType } from '../../../src/sources/containerd/proto';
import { type RunningOomwatch, eventually, startOomwatch } from '../../helpers/daemon';
import { FakeContainerd, capturedEnvelopes } from '../../helpers/fake-containerd';
import { containerdFixtureId } from '../../helpers/fixture-ids';
import { FIXTURES } from '../../helpers/paths';
import { type PromSample, valueOf } from '../../helpers/prom';

/**
 * The oomwatch binary with `--containerd-socket` pointing at a stand-in containerd that answers with
 * containerd 1.6's captured bytes, on the containerd fixture tree, kernel log and Docker off: the wiring of
 * main.ts from the source to /metrics and the event log. (The real containerd, real kills and the kernel log
 * are in test/real/containerd.test.ts.)
 */
const scenario = (
  JSON.parse(fs.readFileSync(path.join(FIXTURES, 'containerd', 'messages.json'), 'utf8')) as {
    scenario: { web: string };
  }
).scenario;

describe('oomwatch serve --containerd-socket', () => {
  let dir: string;
  let fake: FakeContainerd;
  let ow: RunningOomwatch;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-ctd-daemon-'));
    fake = new FakeContainerd(path.join(dir, 'containerd.sock'));
    await fake.start();
    ow = await startOomwatch({
      args: [
        '--cgroup-root',
        path.join(FIXTURES, 'cgroup', 'containerd-v1'),
        '--proc-root',
        path.join(FIXTURES, 'scrape', 'proc'),
        '--docker-socket',
        'none',
        '--kmsg',
        'none',
        '--containerd-socket',
        fake.socket,
        '--interval',
        '500ms',
      ],
    });
  });
  afterAll(async () => {
    await ow?.stop();
    await fake?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const scrapeWhen = (what: string, ok: (s: PromSample[]) => boolean): Promise<PromSample[]> =>
    eventually(
      async () => {
        const s = await ow.scrape();
        return ok(s) ? s : undefined;
      },
      10_000,
      what,
    );

  it("is up, and discovers the containers of the namespaces it reports (k8s.io's only through it)", async () => {
    const k8s = containerdFixtureId('k8s-ns');
    const other = containerdFixtureId('other-ns');
    const s = await scrapeWhen(
      'the k8s.io container',
      (x) => valueOf(x, 'oomwatch_container_info', { id: shortId(k8s) }) === 1,
    );
    expect(valueOf(s, 'oomwatch_source_up', { source: 'containerd' })).toBe(1);
    expect(valueOf(s, 'oomwatch_container_info', { id: shortId(k8s), runtime: 'containerd' })).toBe(1);
    expect(valueOf(s, 'oomwatch_container_info', { id: shortId(other) })).toBeUndefined();
  });

  it('counts a TaskOOM as a kill on the named container (kernel log off), its exit as OOM-killed, a SIGKILL as an exit', async () => {
    for (const e of capturedEnvelopes()) fake.publish(e.bytes);
    const web = { id: shortId(scenario.web), name: 'web' };
    const s = await scrapeWhen(
      "web's exit",
      (x) =>
        valueOf(x, 'oomwatch_container_exits_total', { ...web, exit_code: '137', oom_killed: 'true' }) ===
          1 && valueOf(x, 'oomwatch_container_exits_total', { name: 'nightly', exit_code: '137' }) === 1,
    );
    expect(valueOf(s, 'oomwatch_container_oom_kills_total', web)).toBe(1);
    expect(valueOf(s, 'oomwatch_container_containerd_oom_events_total', web)).toBe(1);
    expect(valueOf(s, 'oomwatch_container_docker_oom_events_total', web)).toBe(0);
    expect(
      valueOf(s, 'oomwatch_container_oom_kills_total', {
        ...web,
        image: 'localhost/oomwatch-test/busybox:latest',
        compose_project: 'shop',
        compose_service: 'cart',
      }),
    ).toBe(1);
    // The exec'd process killed in worker: a kill of worker, and no exit.
    expect(valueOf(s, 'oomwatch_container_oom_kills_total', { id: 'worker', name: 'worker' })).toBe(1);
    expect(valueOf(s, 'oomwatch_container_exits_total', { name: 'worker' })).toBeUndefined();
    // nightly was killed with SIGKILL: an exit, not an OOM kill.
    expect(valueOf(s, 'oomwatch_container_exits_total', { name: 'nightly', oom_killed: 'false' })).toBe(1);
    expect(valueOf(s, 'oomwatch_container_oom_kills_total', { name: 'nightly' })).toBe(0);

    const events = (await (await fetch(`${ow.url}/api/v1/oom-events?container=web`)).json()) as {
      events: Array<{ container: { name: string }; sources: string[]; scope: string }>;
    };
    expect(events.events.map((e) => [e.container.name, e.scope, e.sources])).toEqual([
      ['web', 'container', ['containerd']],
    ]);
  });
});

describe('the containerd source as serve configures it (containerdSourceFromConfig)', () => {
  let dir: string;
  let fake: FakeContainerd;
  const sources: ContainerdSource[] = [];
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-ctd-config-'));
    fake = new FakeContainerd(path.join(dir, 'containerd.sock'));
    await fake.start();
  });
  afterEach(async () => {
    for (const s of sources.splice(0)) await s.stop();
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  function capture(): { log: pino.Logger; lines: Array<{ level: number; msg: string }> } {
    const lines: Array<{ level: number; msg: string }> = [];
    const log = pino(
      { level: 'debug' },
      { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[0]) },
    );
    return { log, lines };
  }

  it.each<[string, string | null, string[] | undefined, string[]]>([
    [
      'the Docker source on: every namespace but moby',
      '/var/run/docker.sock',
      undefined,
      ['default', 'k8s.io'],
    ],
    ['the Docker source off: moby too', null, undefined, ['default', 'k8s.io', 'moby']],
    ['--containerd-namespaces moby with Docker on: as asked', '/var/run/docker.sock', ['moby'], ['moby']],
  ])('as serve configures it, %s', async (_what, dockerSocket, containerdNamespaces, expected) => {
    const t = messageType('containerd.services.namespaces.v1.ListNamespacesResponse');
    const names = t
      .encode(t.fromObject({ namespaces: [{ name: 'default' }, { name: 'k8s.io' }, { name: 'moby' }] }))
      .finish();
    fake.unary.set('Namespaces/List', () => Buffer.from(names));
    const { log, lines } = capture();
    const s = containerdSourceFromConfig(
      {
        containerdSocket: `unix://${fake.socket}`,
        dockerSocket,
        labelAllow: [],
        ...(containerdNamespaces ? { containerdNamespaces } : {}),
      },
      { listener: {}, log },
    ) as ContainerdSource;
    sources.push(s);
    await s.start();
    expect(s.watchedNamespaces()).toEqual(expected);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(
      containerdNamespaces
        ? [expect.stringMatching(/^--containerd-namespaces includes moby, Docker's own namespace/)]
        : [],
    );
  });

  it('is not made at all without --containerd-socket', () => {
    expect(
      containerdSourceFromConfig(
        { containerdSocket: null, dockerSocket: null, labelAllow: [] },
        { listener: {}, log: pino({ level: 'silent' }) },
      ),
    ).toBeUndefined();
  });
});
