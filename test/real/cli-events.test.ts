import * as fs from 'node:fs';
import { blowUp, removeContainers, runCli, runTestContainer, startCli, uniqueName } from '../helpers/cli';
import { type RunningOomwatch, startOomwatch } from '../helpers/daemon';
import { ensureDockerd, ensureTestImage, waitExit } from '../helpers/docker';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';

/**
 * `oomwatch events --follow` beside the real daemon (kernel log on, the same --state-dir): a container
 * OOM-killed by the real kernel shows up as a line while it happens, and Ctrl-C ends the command cleanly.
 */
const MiB = 1024 * 1024;

interface KillLine {
  type: string;
  time: string;
  scope: string;
  container: { id: string; name?: string } | null;
  victim: { comm: string | null; pid: number | null; rss_bytes: number | null } | null;
  sources: string[];
  update?: boolean;
}

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
  ensureDockerd(),
)('oomwatch events on real OOM kills', () => {
  let ow: RunningOomwatch;
  const victim = uniqueName('victim');
  let victimId = '';

  beforeAll(async () => {
    ensureTestImage();
    ow = await startOomwatch({
      args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '0.5', '--kmsg', '/dev/kmsg'],
    });
  }, 30_000);

  afterAll(async () => {
    await removeContainers([victim]);
    await ow?.stop();
    if (ow) fs.rmSync(ow.stateDir, { recursive: true, force: true });
  });

  it('prints a real OOM kill within 2 s, with its victim, and exits 0 on Ctrl-C', async () => {
    const follow = startCli(['events', '--follow', '--json', '--state-dir', ow.stateDir]);
    try {
      // Started and watching: a follow with nothing to show prints nothing in JSON; give node a moment.
      await new Promise((r) => setTimeout(r, 1500));
      expect(follow.child.exitCode).toBeNull();
      victimId = await runTestContainer(victim, ['--memory=32m', '--memory-swap=32m'], blowUp(1));
      expect(await waitExit(victimId)).toBe(137);
      const exitedAt = Date.now();
      const line = await follow.waitForLine((l) => {
        const e = JSON.parse(l) as KillLine;
        return e.type === 'oom_kill' && e.container?.id === victimId && e.victim !== null;
      }, 10_000);
      // `docker wait` returns after the kill; the line may well come before it.
      expect(line.atMs - exitedAt).toBeLessThanOrEqual(2000);
      const kill = JSON.parse(line.text) as KillLine;
      expect(kill).toMatchObject({ scope: 'container', victim: { comm: 'sh' } });
      expect(kill.sources).toContain('kmsg');
      expect(kill.victim?.rss_bytes).toBeGreaterThan(16 * MiB);
      expect(Math.abs(Date.parse(kill.time) - exitedAt)).toBeLessThan(10_000);
      // The container's exit follows, from Docker's die event: 137, and this time it was an OOM kill.
      const exit = await follow.waitForLine((l) => {
        const e = JSON.parse(l) as {
          type: string;
          container: { id: string };
          exit_code: number;
          oom_killed: boolean;
        };
        return e.type === 'exit' && e.container.id === victimId;
      }, 10_000);
      expect(JSON.parse(exit.text)).toMatchObject({ exit_code: 137, oom_killed: true });
    } finally {
      expect(await follow.interrupt()).toBe(0);
    }
  });

  it('lists the kill afterwards, one line with time, container, scope, victim, rss and OOM', async () => {
    const r = await runCli([
      'events',
      '--since',
      '5m',
      '--container',
      victimId.slice(0, 12),
      '--state-dir',
      ow.stateDir,
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+CONTAINER\s+EVENT\s+SCOPE\s+VICTIM\s+RSS\s+EXIT\s+OOM$/);
    const kill = lines.find((l) => / oom-kill /.test(l));
    expect(kill).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\S+\s+oom-kill\s+container\s+sh \(\d+\)\s+\d+(\.\d+)? MiB\s+-\s+yes$/,
    );
    // The exit it caused comes after it: exit code 137, an OOM kill.
    const exit = lines.findIndex((l) => / exit /.test(l));
    expect(exit).toBeGreaterThan(lines.indexOf(kill as string));
    expect(lines[exit]).toMatch(/\s+exit\s+-\s+-\s+-\s+137\s+yes$/);
  });

  it('reads the same kill straight from the kernel log, without the state database', async () => {
    const r = await runCli([
      'events',
      '--kernel-log',
      '--since',
      '5m',
      '--container',
      victimId.slice(0, 12),
      '--json',
    ]);
    expect(r.code).toBe(0);
    const kills = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as KillLine);
    expect(kills.length).toBeGreaterThanOrEqual(1);
    expect(kills[0]).toMatchObject({
      type: 'oom_kill',
      scope: 'container',
      container: { id: victimId, name: victim },
      victim: { comm: 'sh' },
      sources: ['kmsg'],
    });
  });

  it('says what to do when there is no state database', async () => {
    const empty = fs.mkdtempSync('/tmp/oomwatch-cli-nostate-');
    try {
      const r = await runCli(['events', '--state-dir', empty]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `oomwatch: no state database at ${empty}/oomwatch.db: oomwatch serve writes it there while it runs. Start it (oomwatch serve --state-dir ${empty}), or pass --state-dir DIR where it keeps its state`,
      );
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
