import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { type DockerDie, DockerSource } from '../../src/sources/docker';
import {
  DOCKER_SOCKET,
  allocateShell,
  docker,
  ensureDockerd,
  ensureTestImage,
  runContainer,
  waitExit,
} from '../helpers/docker';
import { hostOomKills } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';

/**
 * dockerd restarted under a running Docker source: `up` goes to false when the stream breaks and back to
 * true once the source has reconnected on its own, and events after the restart arrive. dockerd is
 * stopped with SIGTERM and started again exactly as the suite's ensureDockerd() does. Other suites share
 * this dockerd, so the restart is done once and kept short (the daemon's own shutdown stops running
 * containers, which can take its stop timeout).
 */
jest.setTimeout(120_000);

function dockerdPid(): number | undefined {
  try {
    const pid = Number(execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  ensureDockerd(),
)('Docker source across a dockerd restart', () => {
  const logs: Array<{ level: number; msg: string }> = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString('utf8').split('\n'))
          if (l) logs.push(JSON.parse(l) as { level: number; msg: string });
        cb();
      },
    }),
  );
  const dies: DockerDie[] = [];
  const upHistory: boolean[] = [];
  let source: DockerSource;
  let sampler: NodeJS.Timeout;
  /** The whole daemon through the same restart, as a user sees it on /metrics. */
  let ow: RunningOomwatch;
  const daemonUp: number[] = [];
  let scraper: NodeJS.Timeout;

  beforeAll(async () => {
    ensureTestImage();
    source = new DockerSource({
      socketPath: DOCKER_SOCKET,
      listener: { onDie: (e) => dies.push(e) },
      log,
      backoffInitialMs: 100,
      backoffMaxMs: 500,
    });
    await source.start();
    sampler = setInterval(() => {
      if (upHistory[upHistory.length - 1] !== source.up) upHistory.push(source.up);
    }, 5);
    ow = await startOomwatch({
      args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '1', '--kmsg', '/dev/kmsg'],
    });
    await eventually(
      async () =>
        valueOf(await ow.scrape(), 'oomwatch_source_up', { source: 'docker' }) === 1 ? true : undefined,
      15_000,
      "the daemon's docker source up",
    );
    scraper = setInterval(() => {
      void ow
        .scrape()
        .then((s) => {
          const v = valueOf(s, 'oomwatch_source_up', { source: 'docker' });
          if (v !== undefined && daemonUp[daemonUp.length - 1] !== v) daemonUp.push(v);
        })
        .catch(() => undefined);
    }, 100);
  });
  afterAll(async () => {
    clearInterval(sampler);
    clearInterval(scraper);
    await source?.stop();
    await ow?.stop();
    // Never leave the shared machine without its dockerd.
    if (!ensureDockerd().ok) throw new Error('dockerd did not come back; see /tmp/oomwatch-test-dockerd.log');
  });

  it('goes down when dockerd stops, comes back by itself, and delivers the events after the restart', async () => {
    expect(source.up).toBe(true);
    const pid = dockerdPid();
    expect(pid).toBeDefined();
    const reconnectsBefore = source.stats.reconnects;

    process.kill(pid as number, 'SIGTERM');
    await waitFor(() => !source.up, 30_000, 'source up to become false');
    await waitFor(() => !fs.existsSync(`/proc/${pid}`), 60_000, 'the old dockerd to exit');
    // ensureDockerd() below blocks this process (it waits for the new dockerd synchronously), so the
    // scraper cannot run during it: the daemon's 0 is seen here, while dockerd is certainly down.
    await waitFor(() => daemonUp[daemonUp.length - 1] === 0, 15_000, "the daemon's docker source down");
    const restarted = ensureDockerd();
    expect(restarted).toEqual({ ok: true, why: '' });
    await waitFor(() => source.up, 30_000, 'source up to become true again');
    // The sampler runs every 5 ms: note the state waitFor just saw, in case it has not yet.
    if (upHistory[upHistory.length - 1] !== source.up) upHistory.push(source.up);
    expect(source.stats.reconnects).toBe(reconnectsBefore + 1);
    expect(upHistory.slice(-3)).toEqual([true, false, true]);

    const id = await runContainer({ name: `ow-drestart-${process.pid}`, cmd: 'exit 5' });
    try {
      expect(await waitExit(id)).toBe(5);
      await waitFor(() => dies.some((d) => d.id === id), 10_000, 'the die after the restart');
      expect(dies.filter((d) => d.id === id)).toEqual([
        expect.objectContaining({ exitCode: 5, exitCodeFrom: 'event' }),
      ]);
    } finally {
      await docker('rm', '-f', id);
    }

    // The daemon: oomwatch_source_up{source="docker"} went 0 then back to 1, and a kill after the restart is
    // counted once, with the container's name.
    await eventually(
      async () => (daemonUp[daemonUp.length - 1] === 1 ? true : undefined),
      30_000,
      'the daemon back up',
    );
    expect(daemonUp.slice(-3)).toEqual([1, 0, 1]);
    const name = `ow-drestart-oom-${process.pid}`;
    const base = hostOomKills();
    const oom = await runContainer({
      name,
      args: ['--memory=32m', '--memory-swap=32m'],
      cmd: allocateShell(100),
    });
    try {
      expect(await waitExit(oom)).toBe(137);
      // The kernel's own count (one kill, or two when it also takes a process of the allocating pipeline).
      const kernel = hostOomKills() - base;
      expect(kernel).toBeGreaterThanOrEqual(1);
      await eventually(
        async () =>
          valueOf(await ow.scrape(), 'oomwatch_container_oom_kills_total', { name }) === kernel
            ? true
            : undefined,
        15_000,
        `the ${kernel} kill(s) after the restart`,
      );
      await new Promise((r) => setTimeout(r, 3000));
      const s = await ow.scrape();
      expect(valueOf(s, 'oomwatch_container_oom_kills_total', { name })).toBe(kernel);
      expect(
        valueOf(s, 'oomwatch_container_exits_total', { name, exit_code: '137', oom_killed: 'true' }),
      ).toBe(1);
    } finally {
      await docker('rm', '-f', oom);
    }

    // One warning for the outage, naming the problem; one line when Docker is back.
    const warnings = logs.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/^Docker source down: /);
    expect(logs.some((l) => l.level === 30 && l.msg.startsWith('Docker Engine reachable again'))).toBe(true);
  });
});
