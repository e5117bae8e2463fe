import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { RuntimeCgroupHints } from '../../../src/cgroup/hints';
import { grpcContainerdApi } from '../../../src/sources/containerd/api';
import {
  type ContainerdExit,
  type ContainerdListener,
  ContainerdSource,
  type ContainerdSourceOptions,
  type ContainerdTaskEvent,
} from '../../../src/sources/containerd/source';
import type { ContainerMetadata } from '../../../src/state/labels';
import { FakeContainerd, capturedEnvelopes, fixtureBytes } from '../../helpers/fake-containerd';

/**
 * The containerd source over oomwatch's own gRPC client, against a stand-in containerd that answers with
 * containerd 1.6's captured bytes (test/helpers/fake-containerd.ts): what it lists, what it delivers from the
 * event stream, how it reconnects, and what it says when containerd is missing or mute.
 */
const scenario = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '../../fixtures/containerd/messages.json'), 'utf8')) as {
    scenario: { web: string; sandbox: string; app: string };
  }
).scenario;

class Recorder implements ContainerdListener {
  readonly ooms: ContainerdTaskEvent[] = [];
  readonly exits: ContainerdExit[] = [];
  readonly starts: Array<ContainerdTaskEvent & { pid: number }> = [];
  readonly metadata: Array<{ id: string; meta: ContainerMetadata }> = [];
  onOom(e: ContainerdTaskEvent): void {
    this.ooms.push(e);
  }
  onExit(e: ContainerdExit): void {
    this.exits.push(e);
  }
  onStart(e: ContainerdTaskEvent & { pid: number }): void {
    this.starts.push(e);
  }
  onMetadata(id: string, meta: ContainerMetadata): void {
    this.metadata.push({ id, meta });
  }
}

function capture(): { log: pino.Logger; lines: Array<{ level: number; msg: string; problem?: string }> } {
  const lines: Array<{ level: number; msg: string; problem?: string }> = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => lines.push(JSON.parse(s) as (typeof lines)[0]) },
  );
  return { log, lines };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The exit time containerd gave nightly's SIGKILL (its stopped task in the captured Tasks/List). */
const NIGHTLY_EXITED_NS = 1796406435184020044n;

describe('ContainerdSource against containerd 1.6 bytes', () => {
  let dir: string;
  let fake: FakeContainerd;
  const sources: ContainerdSource[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-fake-ctd-'));
    fake = new FakeContainerd(path.join(dir, 'containerd.sock'));
    await fake.start();
  });
  afterEach(async () => {
    for (const s of sources.splice(0)) await s.stop();
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function source(
    rec: ContainerdListener,
    extra: Partial<ContainerdSourceOptions> = {},
    log = pino({ level: 'silent' }),
  ): ContainerdSource {
    const s = new ContainerdSource({
      socketPath: fake.socket,
      listener: rec,
      log,
      backoffInitialMs: 50,
      backoffMaxMs: 200,
      requestTimeoutMs: 2000,
      ...extra,
    });
    sources.push(s);
    return s;
  }

  it('subscribes before it lists, and lists every namespace with the namespace header', async () => {
    const s = source(new Recorder());
    await s.start();
    expect(s.up).toBe(true);
    const calls = fake.calls.map((c) => `${c.method}${c.namespace === undefined ? '' : `@${c.namespace}`}`);
    expect(calls).toEqual([
      'Events/Subscribe',
      'Version',
      'Namespaces/List',
      'Containers/ListStream@default',
      'Tasks/List@default',
      'Containers/ListStream@k8s.io',
      'Tasks/List@k8s.io',
      'Containers/ListStream@oomwatch-capture',
      'Tasks/List@oomwatch-capture',
    ]);
    expect(s.watchedNamespaces()).toEqual(['default', 'k8s.io', 'oomwatch-capture']);
  });

  it("names every container: nerdctl's label, ids their users chose, the CRI plugin's labels; pids of running tasks", async () => {
    const rec = new Recorder();
    const hints = new RuntimeCgroupHints();
    const s = source(rec, { hints, labelAllow: ['com.example.team'] });
    await s.start();
    expect(s.metadataOf(scenario.web)).toMatchObject({
      name: 'web',
      image: 'localhost/oomwatch-test/busybox:latest',
      compose_project: 'shop',
      compose_service: 'cart',
      info: { 'com.example.team': 'payments' },
      runtime: 'containerd',
    });
    expect(s.metadataOf('worker')).toMatchObject({ name: 'worker', pid: expect.any(Number) });
    expect(s.metadataOf('nightly')?.pid).toBeUndefined(); // stopped
    expect(s.metadataOf(scenario.app)).toMatchObject({
      namespace: 'shop',
      pod: 'cart-7d9f8b6c5d-x2x9q',
      container: 'app',
    });
    expect(s.metadataOf(scenario.sandbox)).toMatchObject({ sandbox: true });
    expect(rec.metadata.map((m) => m.id).sort()).toEqual(
      [scenario.app, scenario.sandbox, scenario.web, 'nightly', 'worker'].sort(),
    );
    // Discovery learns the namespaces, and the cgroups no path pattern finds (not the 64-hex ids in theirs).
    expect([...hints.containerdNamespaces].sort()).toEqual(['default', 'k8s.io', 'oomwatch-capture']);
    expect([...hints.containerIds()].sort()).toEqual(['nightly', 'worker']);
    expect(hints.containerAt('/oomwatch-capture/nightly')).toEqual({ id: 'nightly', runtime: 'containerd' });
    expect(hints.containerAt('/default/worker')).toEqual({ id: 'worker', runtime: 'containerd' });
  });

  it('on a first start, exits from before it are not delivered; with a cursor, a stopped task after it is, once', async () => {
    const first = new Recorder();
    const a = source(first);
    await a.start();
    expect(first.exits).toEqual([]);
    expect(a.cursor).toBeGreaterThan(NIGHTLY_EXITED_NS);

    const later = new Recorder();
    const b = source(later, { cursor: NIGHTLY_EXITED_NS - 1_000_000_000n });
    await b.start();
    expect(later.exits).toEqual([
      {
        namespace: 'default',
        id: 'nightly',
        exitCode: 137,
        timeNano: NIGHTLY_EXITED_NS,
        timeMs: Number(NIGHTLY_EXITED_NS / 1_000_000n),
        from: 'list',
      },
    ]);
    expect(b.cursor).toBe(NIGHTLY_EXITED_NS);
    // The same exit on the stream (a shim re-publishing after a restart) is not a second exit.
    fake.publish(fixtureBytes('events/026-tasks-exit.pb'));
    await until(() => b.stats.duplicates === 1, 'the duplicate');
    expect(later.exits).toHaveLength(1);
  });

  it("delivers TaskStart, TaskOOM and the container's own TaskExit; an exec's exit is not the container's; repeats once", async () => {
    const rec = new Recorder();
    const s = source(rec);
    await s.start();
    const envelopes = capturedEnvelopes();
    for (const e of envelopes) fake.publish(e.bytes);
    await until(() => s.stats.delivered['container-delete'] === 1, 'every envelope');
    expect(rec.ooms.map((e) => e.id)).toEqual([scenario.web, 'worker']);
    expect(rec.exits.map((e) => [e.id, e.exitCode, e.from])).toEqual([
      [scenario.web, 137, 'event'],
      ['nightly', 137, 'event'],
    ]);
    expect(rec.starts.map((e) => e.id)).toEqual([scenario.web, 'worker', 'nightly']);
    expect(rec.starts.every((e) => e.pid > 0)).toBe(true);
    expect(s.stats.parseErrors).toBe(0);
    // Created containers are looked up (Containers/Get); the one deleted is forgotten.
    await s.settled();
    expect(fake.calls.filter((c) => c.method === 'Containers/Get').map((c) => c.namespace)).toContain(
      'k8s.io',
    );
    expect(s.metadataOf(scenario.web)).toBeUndefined();
    expect(s.metadataOf('worker')).toMatchObject({ name: 'worker' });

    for (const e of envelopes) fake.publish(e.bytes);
    await until(() => s.stats.duplicates >= 12, 'the repeats');
    expect(rec.exits).toHaveLength(2);
    expect(rec.ooms).toHaveLength(2);
  });

  it('--containerd-namespaces: lists and follows only those; the moby exclusion leaves out one namespace', async () => {
    const only = new Recorder();
    const a = source(only, { namespaces: ['k8s.io'] });
    await a.start();
    expect(a.watchedNamespaces()).toEqual(['k8s.io']);
    expect(fake.calls.filter((c) => c.method === 'Containers/ListStream').map((c) => c.namespace)).toEqual([
      'k8s.io',
    ]);
    for (const e of capturedEnvelopes()) fake.publish(e.bytes);
    await until(() => a.stats.delivered['container-create'] === 2, 'the k8s.io creates');
    expect([only.ooms, only.exits, only.starts]).toEqual([[], [], []]);

    const excluded = source(new Recorder(), { exclude: ['default'] });
    await excluded.start();
    expect(excluded.watchedNamespaces()).toEqual(['k8s.io', 'oomwatch-capture']);
  });

  it('containerd restarting: down with one warning, back by itself, subscribed and listed again', async () => {
    const { log, lines } = capture();
    const s = source(new Recorder(), {}, log);
    await s.start();
    await fake.stop();
    await until(() => !s.up, 'down');
    await new Promise((r) => setTimeout(r, 500)); // several failed reconnects
    await fake.start();
    await until(() => s.up, 'up again');
    expect(s.stats.reconnects).toBe(1);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/^containerd source down: containerd at .* went away/);
    expect(lines.some((l) => l.level === 30 && l.msg.startsWith('containerd reachable again'))).toBe(true);
    // Subscribed again first, then listed again.
    const again = fake.calls.slice(fake.calls.findIndex((c, i) => i > 0 && c.method === 'Events/Subscribe'));
    expect(again.map((c) => c.method).slice(0, 3)).toEqual([
      'Events/Subscribe',
      'Version',
      'Namespaces/List',
    ]);
    expect(fake.subscriberCount).toBe(1);
  });

  it('no socket: down, one warning naming the fix, and it keeps trying', async () => {
    const { log, lines } = capture();
    const s = source(new Recorder(), { socketPath: path.join(dir, 'missing.sock') }, log);
    await s.start();
    await new Promise((r) => setTimeout(r, 400));
    expect(s.up).toBe(false);
    expect(s.stats.connectFailures).toBeGreaterThan(1);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.problem).toMatch(/^no containerd socket at .*missing\.sock; fix: start containerd/);
    expect(warnings[0]?.problem).toContain('--containerd-socket');
  });

  it('a file that is not a socket, and a containerd that does not answer, are said as such', async () => {
    const notSocket = path.join(dir, 'plain-file');
    fs.writeFileSync(notSocket, '');
    const { log, lines } = capture();
    const a = source(new Recorder(), { socketPath: notSocket }, log);
    await a.start();
    expect(lines.find((l) => l.level === 40)?.problem).toMatch(/plain-file is not a unix socket/);

    fake.unary.set('Version', () => 'hang');
    const mute = capture();
    const b = source(new Recorder(), { requestTimeoutMs: 300 }, mute.log);
    await b.start();
    expect(b.up).toBe(false);
    expect(mute.lines.find((l) => l.level === 40)?.problem).toMatch(/did not answer within 0.3 s/);
  });
});

describe('the gRPC libraries', () => {
  it('are loaded on the first call, not when oomwatch loads the containerd source', async () => {
    const loaded: string[] = [];
    await jest.isolateModulesAsync(async () => {
      for (const name of ['@grpc/grpc-js', 'protobufjs/light']) {
        jest.doMock(name, () => {
          loaded.push(name);
          return jest.requireActual(name);
        });
      }
      const mod =
        (await import('../../../src/sources/containerd/source')) as typeof import('../../../src/sources/containerd/source');
      const s = new mod.ContainerdSource({
        socketPath: '/nonexistent',
        listener: {},
        log: pino({ level: 'silent' }),
      });
      expect(s.up).toBe(false);
      expect(loaded).toEqual([]);
      const api = (await import('../../../src/sources/containerd/api')) as {
        grpcContainerdApi: typeof grpcContainerdApi;
      };
      await api
        .grpcContainerdApi('/nonexistent')
        .version({ timeoutMs: 100 })
        .catch(() => undefined);
      expect(loaded.sort()).toEqual(['@grpc/grpc-js', 'protobufjs/light']);
    });
  });
});
