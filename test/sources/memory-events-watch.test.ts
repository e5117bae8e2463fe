import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { valueOf } from '../helpers/prom';

/**
 * Immediacy on cgroup v2: an oom_kill increment in a container's memory.events shows on /metrics well before
 * the next poll would, because the file is watched. The tree is a fixture (regular files shaped like a v2
 * hierarchy); the same watch on a real v2 kernel is exercised in the VM suite.
 */
const ID = 'c0ffee'.padEnd(64, '0');

function writeV2Container(root: string, rel: string, oomKill: number): string {
  const dir = path.join(root, rel);
  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'memory.current': '10485760\n',
    'memory.max': '33554432\n',
    'memory.low': '0\n',
    'memory.high': 'max\n',
    'memory.swap.current': '0\n',
    'memory.swap.max': '0\n',
    'memory.peak': '33554432\n',
    'memory.stat': 'anon 9437184\nfile 1048576\nfile_mapped 0\ninactive_file 524288\n',
    'memory.events': `low 0\nhigh 0\nmax 4\noom 2\noom_kill ${oomKill}\noom_group_kill 0\n`,
    'memory.pressure':
      'some avg10=0.00 avg60=0.00 avg300=0.00 total=10\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n',
  };
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

describe('memory.events watch (cgroup v2)', () => {
  let root: string;
  let ow: RunningOomwatch;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-v2-watch-'));
    fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    writeV2Container(root, `system.slice/docker-${ID}.scope`, 0);
    // A poll every 60 s: anything seen sooner came through the watch.
    ow = await startOomwatch({
      args: ['--cgroup-root', root, '--interval', '60', '--docker-socket', 'none', '--kmsg', 'none'],
    });
    await eventually(
      async () => ((await fetch(`${ow.url}/readyz`)).ok ? true : undefined),
      10_000,
      'first poll',
    );
  });

  afterAll(async () => {
    await ow?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('counts an oom_kill increment at once, not at the next poll', async () => {
    const short = ID.slice(0, 12);
    expect(valueOf(await ow.scrape(), 'oomwatch_container_oom_kills_total', { id: short })).toBe(0);
    const file = path.join(root, `system.slice/docker-${ID}.scope`, 'memory.events');
    // Let the watch settle after the first poll added it.
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    fs.writeFileSync(file, 'low 0\nhigh 0\nmax 9\noom 3\noom_kill 1\noom_group_kill 0\n');
    await eventually(
      async () =>
        valueOf(await ow.scrape(), 'oomwatch_container_oom_kills_total', { id: short }) === 1
          ? true
          : undefined,
      10_000,
      'the kill on /metrics',
    );
    const elapsed = Date.now() - started;
    // The next poll is 60 s away: seeing it within 10 s proves the watch delivered it.
    expect(elapsed).toBeLessThan(10_000);
    const samples = await ow.scrape();
    expect(valueOf(samples, 'oomwatch_container_cgroup_oom_kills_total', { id: short })).toBe(1);
    expect(valueOf(samples, 'oomwatch_container_memory_limit_hits_total', { id: short })).toBe(9);
    // oom (situations) moved too, but kills are counted from oom_kill only.
    fs.writeFileSync(file, 'low 0\nhigh 0\nmax 9\noom 5\noom_kill 1\noom_group_kill 0\n');
    await new Promise((r) => setTimeout(r, 500));
    expect(valueOf(await ow.scrape(), 'oomwatch_container_oom_kills_total', { id: short })).toBe(1);
  });

  it('counts a memory.oom.group kill at once too', async () => {
    const short = ID.slice(0, 12);
    const family = 'oomwatch_container_oom_group_kills_total';
    expect(valueOf(await ow.scrape(), family, { id: short })).toBe(0);
    const file = path.join(root, `system.slice/docker-${ID}.scope`, 'memory.events');
    fs.writeFileSync(file, 'low 0\nhigh 0\nmax 9\noom 6\noom_kill 4\noom_group_kill 1\n');
    await eventually(
      async () => (valueOf(await ow.scrape(), family, { id: short }) === 1 ? true : undefined),
      10_000,
      'the group kill on /metrics',
    );
  });
});
