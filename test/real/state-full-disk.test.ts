import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { V1Cgroups, allocateScript, kernelOomKills, randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';

/**
 * A full disk under --state-dir: oomwatch keeps counting in memory, says so once, shows the state source
 * down, and writes everything once space is back; after a restart nothing was lost. The disk is a real
 * tmpfs of 2 MiB, filled by a file.
 */
describeIf(isRoot(), hasV1MemoryCgroup())('state directory on a full disk', () => {
  const cgroups = new V1Cgroups();
  let mnt: string;
  let ow: RunningOomwatch | undefined;
  const id = randomHex(64);
  const short = id.slice(0, 12);
  const args = [
    '--cgroup-root',
    '/sys/fs/cgroup',
    '--interval',
    '0.5',
    '--docker-socket',
    'none',
    '--kmsg',
    'none',
  ];

  beforeAll(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-fulldisk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  });
  afterAll(async () => {
    await ow?.stop();
    cgroups.cleanup();
    execFileSync('umount', [mnt]);
    fs.rmdirSync(mnt);
  });

  it('counts on in memory, reports the store down, and catches up when space is back', async () => {
    const dir = cgroups.make(`docker/${id}`, 32 * 1024 * 1024);
    ow = await startOomwatch({ args, stateDir: mnt });
    await eventually(
      async () =>
        valueOf(await ow!.scrape(), 'oomwatch_container_oom_kills_total', { id: short }) === 0
          ? true
          : undefined,
      10_000,
      'the container at 0',
    );

    // Fill the disk: every byte left goes to a filler file.
    const filler = path.join(mnt, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // dd stops with ENOSPC, which is the point
    }
    const { exited } = cgroups.runIn(dir, allocateScript(100));
    await exited;
    const kills = kernelOomKills(dir); // the workload may lose more than one process
    expect(kills).toBeGreaterThanOrEqual(1);
    const during = await eventually(
      async () => {
        const s = await ow!.scrape();
        return valueOf(s, 'oomwatch_container_oom_kills_total', { id: short }) === kills &&
          valueOf(s, 'oomwatch_source_up', { source: 'state' }) === 0
          ? s
          : undefined;
      },
      15_000,
      'the kill counted with the state source down',
    );
    expect(valueOf(during, 'oomwatch_source_up', { source: 'cgroup' })).toBe(1);
    expect(ow.logs.filter((l) => l.includes('is full: state is kept in memory'))).toHaveLength(1);

    fs.rmSync(filler);
    await eventually(
      async () =>
        valueOf(await ow!.scrape(), 'oomwatch_source_up', { source: 'state' }) === 1 ? true : undefined,
      90_000,
      'the state source back up',
    );
    expect(await ow.stop()).toBe(0);

    ow = await startOomwatch({ args, stateDir: mnt });
    await eventually(
      async () =>
        valueOf(await ow!.scrape(), 'oomwatch_container_oom_kills_total', { id: short }) === kills
          ? true
          : undefined,
      10_000,
      'the kill after a restart',
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(valueOf(await ow.scrape(), 'oomwatch_container_oom_kills_total', { id: short })).toBe(kills);
  });
});
