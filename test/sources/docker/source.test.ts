import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { OomwatchError } from '../../../src/errors';
import { DockerSource, dockerSocketPath, dockerSourceFromConfig } from '../../../src/sources/docker';

/**
 * The Docker source without a Docker Engine: a socket path where nothing exists and a socket nobody
 * accepts on. (The real-dockerd behaviour is in test/real/docker-*.test.ts.)
 */
function capturingLogger(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const until = async (cond: () => boolean, ms: number): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('DockerSource when Docker is absent', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-docker-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('start() resolves with up false, warns once with the fix, and keeps retrying', async () => {
    const { log, lines } = capturingLogger();
    const socketPath = path.join(dir, 'missing.sock');
    const source = new DockerSource({ socketPath, listener: {}, log, backoffInitialMs: 5, backoffMaxMs: 20 });
    await source.start();
    expect(source.name).toBe('docker');
    expect(source.up).toBe(false);
    await until(() => source.stats.connectFailures >= 5, 5000);
    await source.stop();
    const warnings = lines.filter((l) => l['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.['msg']).toMatch(
      new RegExp(`^Docker source down: Docker is not reachable at ${socketPath}: no socket there`),
    );
    expect(warnings[0]?.['msg']).toContain('--docker-socket none');
    expect(warnings[0]?.['msg']).toContain('logged once until Docker is back');
    expect(source.up).toBe(false);
  });

  it('a socket that refuses connections names dockerd not running', async () => {
    // A stale socket file left by a dockerd that died: the path exists, connect() is refused.
    const socketPath = path.join(dir, 'refused.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const stale = path.join(dir, 'stale.sock');
    fs.renameSync(socketPath, stale); // keep the socket inode while the listener goes away
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.renameSync(stale, socketPath);
    const { log, lines } = capturingLogger();
    const source = new DockerSource({ socketPath, listener: {}, log, backoffInitialMs: 5, backoffMaxMs: 20 });
    await source.start();
    expect(source.up).toBe(false);
    await source.stop();
    const warning = lines.find((l) => l['level'] === 40);
    expect(warning?.['msg']).toContain(
      `Docker is not reachable at ${socketPath}: connection refused: the socket exists but no Docker daemon listens on it`,
    );
  });

  it('a persisted cursor ahead of the clock is dropped, so live events are not taken for replays', async () => {
    const { log, lines } = capturingLogger();
    const tomorrow = BigInt(Date.now() + 86_400_000) * 1_000_000n;
    const source = new DockerSource({
      socketPath: path.join(dir, 'missing.sock'),
      listener: {},
      log,
      cursor: tomorrow,
    });
    expect(source.cursor).toBe(tomorrow);
    await source.start();
    await source.stop();
    expect(source.cursor).toBeUndefined();
    expect(
      lines.some((l) =>
        String(l['msg']).startsWith('the persisted Docker event cursor is ahead of the clock'),
      ),
    ).toBe(true);
  });

  it('stop() during the backoff returns at once', async () => {
    const { log } = capturingLogger();
    const source = new DockerSource({
      socketPath: path.join(dir, 'nope.sock'),
      listener: {},
      log,
      backoffInitialMs: 60_000,
    });
    await source.start();
    const t0 = Date.now();
    await source.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('--docker-socket', () => {
  it.each<[string, string]>([
    ['/var/run/docker.sock', '/var/run/docker.sock'],
    ['unix:///run/user/1000/docker.sock', '/run/user/1000/docker.sock'],
    ['unix://', '/var/run/docker.sock'],
    ['/host/var/run/docker.sock', '/host/var/run/docker.sock'],
  ])('%s -> %s', (flag, socket) => {
    expect(dockerSocketPath(flag)).toBe(socket);
  });

  it.each(['tcp://10.0.0.1:2375', 'ssh://user@host', 'npipe:////./pipe/docker_engine'])(
    '%s is refused with the fix',
    (flag) => {
      expect(() => dockerSocketPath(flag)).toThrow(OomwatchError);
      expect(() => dockerSocketPath(flag)).toThrow(/only a unix socket path is supported/);
    },
  );

  it('none turns the source off; a path builds it with the allow-list', () => {
    const { log } = capturingLogger();
    expect(
      dockerSourceFromConfig({ dockerSocket: null, labelAllow: [] }, { listener: {}, log }),
    ).toBeUndefined();
    const source = dockerSourceFromConfig(
      { dockerSocket: '/var/run/docker.sock', labelAllow: ['team'] },
      { listener: {}, log, cursor: 5n },
    );
    expect(source).toBeInstanceOf(DockerSource);
    expect(source?.cursor).toBe(5n);
    expect(source?.up).toBe(false);
  });
});
