import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { silentLogger } from '../../../src/log';
import type { ReadOnlyDockerApi } from '../../../src/sources/docker/api';
import {
  type DockerDie,
  type DockerLifecycleEvent,
  DockerSource,
  dockerSourceFromConfig,
  podmanSourceFromConfig,
} from '../../../src/sources/docker';
import { FIXTURES } from '../../helpers/paths';

/**
 * The Docker source's code against Podman, with the payloads a real Podman 4.3.1 answered on this machine
 * (test/fixtures/podman/capture.sh) served by a stand-in for its API: the engine is told from /version, its
 * `remove` is a destroy, `exec_died` is no exit, no `oom` ever comes, and a pod's infra container is marked a
 * sandbox (never exported) from Podman's own list and inspect. The real Podman service is in
 * test/real/podman.test.ts.
 */
const DIR = path.join(FIXTURES, 'podman');
const read = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as unknown;
const expected = read('expected.json') as {
  oom: { id: string; name: string };
  kill: { id: string };
  exec: { id: string };
  pod: { infra: string; id: string; name: string };
};
const LINES = fs
  .readFileSync(path.join(DIR, 'events.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l !== '');

/** Podman's API as captured; `list` and `libpodList` are what the two lists answer. */
function podmanApi(over: { list?: unknown[]; libpodList?: unknown } = {}): {
  api: ReadOnlyDockerApi;
  stream: PassThrough;
  calls: string[];
} {
  const stream = new PassThrough();
  const calls: string[] = [];
  const notFound = (): Error => Object.assign(new Error('no such container'), { statusCode: 404 });
  const api: ReadOnlyDockerApi = {
    ping: () => Promise.resolve(),
    version: () => Promise.resolve(read('version.json') as { Version: string }),
    listContainers: () => Promise.resolve(over.list ?? []),
    inspectContainer: () => Promise.reject(notFound()),
    containerEvents: (_since, signal) => {
      // As dockerode does: aborting the request ends the stream.
      signal.addEventListener('abort', () => stream.destroy(), { once: true });
      return Promise.resolve(stream);
    },
    libpodContainers: (v) => {
      calls.push(`libpod list v${v}`);
      return Promise.resolve(over.libpodList ?? []);
    },
    libpodInspect: (v, id) => {
      calls.push(`libpod inspect v${v} ${id.slice(0, 12)}`);
      if (id === expected.pod.infra) return Promise.resolve(read('libpod-inspect-infra.json'));
      return Promise.resolve({ Id: id, IsInfra: false });
    },
  };
  return { api, stream, calls };
}

const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('the Docker source against Podman', () => {
  it('follows the captured stream: dies with their codes, remove as destroy, no oom, exec_died no exit', async () => {
    const { api, stream } = podmanApi();
    const dies: DockerDie[] = [];
    const destroys: DockerLifecycleEvent[] = [];
    const starts: DockerLifecycleEvent[] = [];
    let ooms = 0;
    const source = new DockerSource({
      name: 'podman',
      socketPath: '/run/podman/podman.sock',
      api,
      log: silentLogger(),
      listener: {
        onDie: (e) => dies.push(e),
        onDestroy: (e) => destroys.push(e),
        onStart: (e) => starts.push(e),
        onOom: () => ooms++,
      },
    });
    await source.start();
    expect(source.name).toBe('podman');
    expect(source.up).toBe(true);
    expect(source.engine).toMatchObject({ kind: 'podman', version: '4.3.1', oomKilledReliable: false });
    for (const line of LINES) stream.write(`${line}\n`);
    await until(() => destroys.length === 6);
    await source.settled();
    await source.stop();

    expect(ooms).toBe(0);
    // oom, --rm, kill, exec (its rm -f), the pod's container and its infra: one die each, all from Podman.
    expect(dies).toHaveLength(6);
    expect(new Set(dies.map((d) => d.engine))).toEqual(new Set(['podman']));
    expect(dies.find((d) => d.id === expected.oom.id)).toMatchObject({
      exitCode: 137,
      exitCodeFrom: 'event',
    });
    expect(dies.find((d) => d.id === expected.kill.id)).toMatchObject({ exitCode: 137 });
    expect(dies.filter((d) => d.id === expected.exec.id)).toHaveLength(1);
    expect(starts.every((s) => s.engine === 'podman')).toBe(true);
    expect(source.stats.delivered.destroy).toBe(6);
    expect(source.stats.parseErrors).toBe(0);
  });

  it("marks a pod's infra container a sandbox as it is created, from Podman's own inspect", async () => {
    const { api, stream, calls } = podmanApi();
    const source = new DockerSource({
      name: 'podman',
      socketPath: 'x',
      api,
      log: silentLogger(),
      listener: {},
    });
    await source.start();
    // The stream up to the start of the pod's container: both are then known, neither removed yet.
    const upTo = LINES.findIndex((l) => l.includes('"Action":"start"') && l.includes(expected.pod.id));
    for (const line of LINES.slice(0, upTo + 1)) stream.write(`${line}\n`);
    await until(() => source.metadataOf(expected.pod.id) !== undefined);
    await source.settled();
    expect(source.metadataOf(expected.pod.infra)?.sandbox).toBe(true);
    expect(source.metadataOf(expected.pod.id)).toMatchObject({ name: expected.pod.name, sandbox: false });
    // Only the pod's containers are asked about (their events carry the pod's id), at the libpod API's version.
    expect(calls.filter((c) => c.startsWith('libpod inspect'))).toEqual(
      expect.arrayContaining([
        `libpod inspect v4.3.1 ${expected.pod.infra.slice(0, 12)}`,
        `libpod inspect v4.3.1 ${expected.pod.id.slice(0, 12)}`,
      ]),
    );
    expect(calls.some((c) => c.includes(expected.oom.id.slice(0, 12)))).toBe(false);
    await source.stop();
  });

  it('marks the infra containers of the list a sandbox at (re)connection, whatever their labels imply', async () => {
    const list = read('list.json') as Array<{ Id: string; Names: string[] }>;
    const { api } = podmanApi({ list, libpodList: read('libpod-containers.json') });
    const source = new DockerSource({
      name: 'podman',
      socketPath: 'x',
      api,
      log: silentLogger(),
      listener: {},
    });
    await source.start();
    const infra = list.find((c) => c.Names[0]?.endsWith('-infra')) as { Id: string };
    const workload = list.find((c) => !c.Names[0]?.endsWith('-infra')) as { Id: string };
    expect(source.metadataOf(infra.Id)).toMatchObject({ sandbox: true });
    expect(source.metadataOf(workload.Id)).toMatchObject({ name: 'owfix-inpod', sandbox: false });
    await source.stop();
  });

  it('a Docker Engine behind --podman-socket is followed as Docker', async () => {
    const { api } = podmanApi();
    api.version = () => Promise.resolve(read('../docker/version.json') as { Version: string });
    const source = new DockerSource({
      name: 'podman',
      socketPath: 'x',
      api,
      log: silentLogger(),
      listener: {},
    });
    await source.start();
    expect(source.engine?.kind).toBe('docker');
    await source.stop();
  });
});

describe('--podman-socket', () => {
  const log = silentLogger();

  it('is off by default; a path or unix:// URL builds the source named podman', () => {
    expect(podmanSourceFromConfig({ podmanSocket: null, labelAllow: [] }, { listener: {}, log })).toBe(
      undefined,
    );
    const s = podmanSourceFromConfig(
      { podmanSocket: 'unix://', labelAllow: [] },
      { listener: {}, log },
    ) as DockerSource;
    expect(s.name).toBe('podman');
    expect(() =>
      podmanSourceFromConfig({ podmanSocket: 'tcp://host:8080', labelAllow: [] }, { listener: {}, log }),
    ).toThrow(/--podman-socket: only a unix socket path is supported/);
  });

  it('a --docker-socket that is the same socket (podman-docker links docker.sock to it) is followed once', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-podman-'));
    try {
      const real = path.join(dir, 'podman.sock');
      fs.writeFileSync(real, '');
      fs.symlinkSync(real, path.join(dir, 'docker.sock'));
      const config = { dockerSocket: path.join(dir, 'docker.sock'), podmanSocket: real, labelAllow: [] };
      expect(dockerSourceFromConfig(config, { listener: {}, log })).toBeUndefined();
      expect(
        dockerSourceFromConfig(
          { ...config, podmanSocket: path.join(dir, 'other.sock') },
          { listener: {}, log },
        )?.name,
      ).toBe('docker');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
