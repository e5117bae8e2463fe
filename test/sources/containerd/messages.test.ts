import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabelAllowList } from '../../../src/sources/container-labels';
import { type ContainerdEvent, parseEnvelope } from '../../../src/sources/containerd/events';
import { decodeMessage, rawEnvelope } from '../../../src/sources/containerd/grpc-client';
import {
  metadataFromContainer,
  narrowContainer,
  narrowNamespaces,
  narrowTasks,
} from '../../../src/sources/containerd/metadata';
import { FIXTURES } from '../../helpers/paths';

/**
 * containerd 1.6's own bytes (test/fixtures/containerd, captured by `npm run fixtures:containerd` from a real
 * containerd running real containers: see messages.json) decoded with oomwatch's message definitions and
 * narrowed as the source narrows them. A field number that does not match containerd's .proto files loses
 * the field, and a test here says which.
 */
const DIR = path.join(FIXTURES, 'containerd');
const index = JSON.parse(fs.readFileSync(path.join(DIR, 'messages.json'), 'utf8')) as {
  containerd: string;
  scenario: { web: string; sandbox: string; app: string; podUid: string; webExit: number; execExit: number };
  messages: Array<{ file: string; message: string }>;
};
const S = index.scenario;
const bytes = (file: string): Buffer => fs.readFileSync(path.join(DIR, file));
const decode = (name: string, file: string): Record<string, unknown> => decodeMessage(name, bytes(file));
const CONTAINER_MESSAGE = 'containerd.services.containers.v1.GetContainerResponse';

function listed(namespace: string): ReturnType<typeof narrowContainer>[] {
  return index.messages
    .filter((m) => m.file.startsWith(`containers-${namespace}-`))
    .map((m) => narrowContainer(decode(CONTAINER_MESSAGE, m.file)['container'], namespace));
}

function events(): Array<{ file: string; parsed: ReturnType<typeof parseEnvelope> }> {
  return index.messages
    .filter((m) => m.file.startsWith('events/'))
    .map((m) => ({
      file: m.file,
      parsed: parseEnvelope(rawEnvelope(decode('containerd.services.events.v1.Envelope', m.file))),
    }));
}

const delivered = (): ContainerdEvent[] =>
  events().flatMap((e) => (e.parsed.kind === 'event' ? [e.parsed.event] : []));

it('the fixtures are what the capture says: containerd 1.6, a container OOM-killed, an exec OOM-killed', () => {
  expect(index.containerd).toMatch(/^1\.6\./);
  expect([S.webExit, S.execExit]).toEqual([137, 137]);
});

describe('Version and Namespaces/List', () => {
  it('decode', () => {
    expect(decode('containerd.services.version.v1.VersionResponse', 'version.pb')).toEqual({
      version: index.containerd,
      revision: expect.stringMatching(/^1\.6\./),
    });
    expect(
      narrowNamespaces(decode('containerd.services.namespaces.v1.ListNamespacesResponse', 'namespaces.pb')),
    ).toEqual(['default', 'k8s.io', 'oomwatch-capture']);
  });
});

describe('Containers/ListStream, List and Get', () => {
  const allow = new LabelAllowList(['com.example.team']);

  it('every container of the namespace default, with labels, image and the cgroup its spec names', () => {
    const byId = new Map(listed('default').map((c) => [c?.id, c]));
    expect(byId.get(S.web)).toEqual({
      namespace: 'default',
      id: S.web,
      image: 'localhost/oomwatch-test/busybox:latest',
      labels: {
        'io.containerd.image.config.stop-signal': 'SIGTERM',
        'nerdctl/name': 'web',
        'com.docker.compose.project': 'shop',
        'com.docker.compose.service': 'cart',
        'com.example.team': 'payments',
      },
      cgroupPath: `/default/${S.web}`,
    });
    expect(byId.get('worker')?.cgroupPath).toBe('/default/worker');
    expect(byId.get('nightly')?.cgroupPath).toBe('/oomwatch-capture/nightly');
  });

  it('names: nerdctl/name, else an id its user chose; Compose labels; only allowed labels on info', () => {
    const meta = listed('default').map((c) => metadataFromContainer(c!, allow));
    expect(meta.map((m) => m.name).sort()).toEqual(['nightly', 'web', 'worker']);
    expect(meta.find((m) => m.name === 'web')).toEqual({
      name: 'web',
      image: 'localhost/oomwatch-test/busybox:latest',
      compose_project: 'shop',
      compose_service: 'cart',
      namespace: '',
      pod: '',
      container: '',
      sandbox: false,
      info: { 'com.example.team': 'payments' },
      runtime: 'containerd',
    });
  });

  it('never keeps anything of the spec but its cgroup: the environment given with --env is not in it', () => {
    // the spec containerd sends holds it
    expect(bytes('containers-default-0.pb').includes('SECRET=s3cr3t-capture')).toBe(true);
    const kept = listed('default').map((c) => [c, metadataFromContainer(c!, new LabelAllowList(['SECRET']))]);
    expect(JSON.stringify(kept)).not.toContain('s3cr3t');
  });

  it("a pod's containers as containerd's CRI plugin labels them: names from io.kubernetes.*, the sandbox marked", () => {
    const meta = new Map(listed('k8s.io').map((c) => [c?.id, metadataFromContainer(c!, allow)]));
    expect(meta.get(S.app)).toMatchObject({
      name: 'app',
      namespace: 'shop',
      pod: 'cart-7d9f8b6c5d-x2x9q',
      container: 'app',
      sandbox: false,
    });
    expect(meta.get(S.sandbox)).toMatchObject({
      name: '',
      namespace: 'shop',
      pod: 'cart-7d9f8b6c5d-x2x9q',
      sandbox: true,
    });
  });

  it('the one-message List and Get decode to the same containers', () => {
    const list = decode('containerd.services.containers.v1.ListContainersResponse', 'containers-default.pb');
    const fromList = (list['containers'] as unknown[]).map((c) => narrowContainer(c, 'default'));
    expect(fromList).toEqual(listed('default'));
    const got = narrowContainer(decode(CONTAINER_MESSAGE, 'container-get-worker.pb')['container'], 'default');
    expect(got).toEqual(listed('default').find((c) => c?.id === 'worker'));
  });
});

describe('Tasks/List', () => {
  it('the running task with its pid, the stopped one with its exit status and time', () => {
    const tasks = narrowTasks(
      decode('containerd.services.tasks.v1.ListTasksResponse', 'tasks-default.pb'),
      'default',
    );
    const killed = delivered().find((e) => e.kind === 'task-exit' && e.containerId === 'nightly');
    expect(tasks).toEqual([
      {
        namespace: 'default',
        containerId: 'worker',
        pid: expect.any(Number),
        status: 'running',
        exitStatus: 0,
        exitedAtNano: undefined,
      },
      {
        namespace: 'default',
        containerId: 'nightly',
        pid: expect.any(Number),
        status: 'stopped',
        exitStatus: 137,
        exitedAtNano: (killed as { exitedAtNano: bigint }).exitedAtNano,
      },
    ]);
    expect(tasks[0]?.pid).toBeGreaterThan(0);
    expect(
      narrowTasks(decode('containerd.services.tasks.v1.ListTasksResponse', 'tasks-k8s.io.pb'), 'k8s.io'),
    ).toEqual([]);
  });
});

describe('Events/Subscribe envelopes', () => {
  it('the OOM-killed container: created, started, TaskOOM, then its own TaskExit 137', () => {
    const ofWeb = delivered().filter(
      (e) => ('containerId' in e ? e.containerId : 'id' in e ? e.id : '') === S.web,
    );
    expect(ofWeb.map((e) => e.kind)).toEqual([
      'container-create',
      'task-start',
      'task-oom',
      'task-exit',
      'container-delete',
    ]);
    const [create, start, oom, exit] = ofWeb;
    expect(create).toMatchObject({ namespace: 'default', image: 'localhost/oomwatch-test/busybox:latest' });
    expect((start as { pid: number }).pid).toBeGreaterThan(0);
    expect(exit).toMatchObject({ exitCode: 137 });
    const e = exit as { timeNano: bigint; exitedAtNano: bigint; timeMs: number };
    expect(e.exitedAtNano).toBeLessThanOrEqual(e.timeNano);
    expect((oom as { timeNano: bigint }).timeNano).toBeLessThanOrEqual(e.exitedAtNano);
    expect(Math.abs(e.timeMs - Date.parse('2026-12-04T00:00:00Z'))).toBeLessThan(400 * 86_400_000);
  });

  it("an exec'd process killed in a live container: TaskOOM of the container, its exit is not the container's", () => {
    const all = events();
    const worker = all.filter(
      (e) =>
        e.parsed.kind !== 'event' ||
        ('containerId' in e.parsed.event && e.parsed.event.containerId === 'worker'),
    );
    expect(
      delivered()
        .filter((e) => 'containerId' in e && e.containerId === 'worker')
        .map((e) => e.kind),
    ).toEqual(['task-start', 'task-oom']);
    expect(
      worker.some(
        (e) => e.parsed.kind === 'ignored' && e.parsed.reason === 'exit of exec hog in container worker',
      ),
    ).toBe(true);
  });

  it('a SIGKILL: an exit 137 without TaskOOM', () => {
    const nightly = delivered().filter((e) => 'containerId' in e && e.containerId === 'nightly');
    expect(nightly.map((e) => e.kind)).toEqual(['task-start', 'task-exit']);
  });

  it('namespaces, and the containers a pod has, are events too; images and snapshots are ignored, nothing is an error', () => {
    const parsed = events();
    expect(parsed.filter((e) => e.parsed.kind === 'error')).toEqual([]);
    expect(delivered().find((e) => e.kind === 'namespace-create')).toMatchObject({
      name: 'oomwatch-capture',
    });
    expect(
      delivered()
        .filter((e) => e.kind === 'container-create' && e.namespace === 'k8s.io')
        .map((e) => (e as { id: string }).id)
        .sort(),
    ).toEqual([S.app, S.sandbox].sort());
    const ignored = parsed
      .filter((e) => e.parsed.kind === 'ignored')
      .map((e) => e.file.replace(/^events\/\d+-/, ''));
    expect(new Set(ignored)).toEqual(
      new Set([
        'images-create.pb',
        'snapshot-prepare.pb',
        'snapshot-commit.pb',
        'snapshot-remove.pb',
        'tasks-create.pb',
        'tasks-exec-added.pb',
        'tasks-exec-started.pb',
        'tasks-delete.pb',
        'tasks-exit.pb',
      ]),
    );
  });
});
