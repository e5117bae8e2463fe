import { CliDocker, DockerUnavailable } from '../../src/cli/docker';
import type { ReadOnlyDockerApi } from '../../src/sources/docker/api';

/** The on-call commands' view of Docker, over a fake of the daemon's read-only API. */
const ID = 'a'.repeat(64);
const SANDBOX = 'b'.repeat(64);

function api(over: Partial<ReadOnlyDockerApi>): ReadOnlyDockerApi {
  const unused = (): never => {
    throw new Error('not used by the on-call commands');
  };
  return {
    ping: unused,
    version: unused,
    containerEvents: unused,
    listContainers: unused,
    inspectContainer: unused,
    ...over,
  };
}

describe('CliDocker', () => {
  it("lists containers with their labels in oomwatch's names, and marks pod sandboxes", async () => {
    const docker = new CliDocker(
      '/s',
      api({
        listContainers: async () => [
          {
            Id: ID,
            Names: ['/shop-web-1'],
            Image: 'nginx',
            State: 'running',
            Labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' },
          },
          {
            Id: SANDBOX,
            Names: ['/k8s_POD'],
            State: 'running',
            Labels: { 'io.kubernetes.docker.type': 'podsandbox' },
          },
          { Names: ['/no-id'] },
        ],
      }),
    );
    const list = await docker.list();
    expect(list).toHaveLength(2);
    expect(list[0]).toEqual({
      id: ID,
      state: 'running',
      meta: expect.objectContaining({
        name: 'shop-web-1',
        image: 'nginx',
        compose_project: 'shop',
        compose_service: 'web',
        sandbox: false,
      }),
    });
    expect(list[1]?.meta.sandbox).toBe(true);
  });

  it('inspects one container: its run, memory settings and JVM flags in one call; undefined when Docker has none', async () => {
    const calls: string[] = [];
    const docker = new CliDocker(
      '/s',
      api({
        inspectContainer: async (id) => {
          calls.push(id);
          if (id !== ID)
            throw Object.assign(new Error('(HTTP code 404) no such container'), { statusCode: 404 });
          return {
            Id: ID,
            State: { Status: 'exited', OOMKilled: true, ExitCode: 137 },
            HostConfig: { Memory: 1024, MemorySwap: -1 },
            Config: { Env: ['JAVA_OPTS=-Xmx512m -Dsecret=x', 'DB_PASSWORD=y'] },
          };
        },
      }),
    );
    const got = await docker.inspect(ID);
    expect(got?.run).toMatchObject({
      state: 'exited',
      oomKilled: true,
      exitCode: 137,
      memory: { limit: 1024, memorySwap: -1 },
    });
    expect(got?.jvm?.flags).toEqual(['-Xmx512m']);
    expect(JSON.stringify(got)).not.toMatch(/secret|DB_PASSWORD/);
    expect(await docker.inspect('gone')).toBeUndefined();
    expect(calls).toEqual([ID, 'gone']);
  });

  it.each<[string, () => Promise<unknown>, string]>([
    [
      'no socket',
      async () => {
        throw Object.assign(new Error('connect ENOENT /s'), { code: 'ENOENT' });
      },
      'Docker is not reachable at /s: no socket there: Docker is not running on this host or listens elsewhere',
    ],
    [
      'an answer that is not JSON (dockerode hands it over as it came)',
      async () => Buffer.from('hello'),
      'Docker is not reachable at /s: answered /containers/json?all=1 with something that is not JSON',
    ],
  ])('a failure is DockerUnavailable, saying what is wrong: %s', async (_name, listContainers, text) => {
    // The API's type says a list; dockerode's answer to a body that is not JSON is a Buffer all the same.
    const list = listContainers as ReadOnlyDockerApi['listContainers'];
    const err = await new CliDocker('/s', api({ listContainers: list })).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerUnavailable);
    expect((err as Error).message).toContain(text);
  });
});
