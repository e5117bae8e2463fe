import type { TopSnapshot } from '../../src/cli/top';
import { holdShm, removeContainers, runCli, runTestContainer, startCli, uniqueName } from '../helpers/cli';
import { eventually } from '../helpers/daemon';
import { ensureDockerd, ensureTestImage } from '../helpers/docker';
import { describeIf, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';

/**
 * `oomwatch top` on real containers holding known amounts of memory under different limits: the snapshot
 * lists them by limit ratio, highest first, with the unlimited one after every limited one and flagged, and
 * is plain text when stdout is not a terminal. Only our own containers are asserted on: others come and go
 * on this host while the suite runs.
 */
const MiB = 1024 * 1024;

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  ensureDockerd(),
)('oomwatch top on real containers', () => {
  // name -> [docker flags, MiB held]; ratios about 85%, 45% and 10%
  const setups = {
    hot: { name: uniqueName('hot'), args: ['--memory=48m', '--memory-swap=48m', '--shm-size=48m'], mib: 40 },
    warm: {
      name: uniqueName('warm'),
      args: ['--memory=64m', '--memory-swap=64m', '--shm-size=48m'],
      mib: 28,
    },
    cool: {
      name: uniqueName('cool'),
      args: ['--memory=256m', '--memory-swap=256m', '--shm-size=48m'],
      mib: 24,
    },
    free: { name: uniqueName('free'), args: ['--shm-size=48m'], mib: 8 },
  };
  const names = Object.values(setups).map((s) => s.name);
  const ours = (snapshot: TopSnapshot): TopSnapshot['containers'] =>
    snapshot.containers.filter((c) => names.includes(c.name));
  const once = async (): Promise<TopSnapshot> => {
    const r = await runCli([
      'top',
      '--once',
      '--json',
      '--state-dir',
      '/nonexistent',
      '--cgroup-root',
      '/sys/fs/cgroup',
    ]);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as TopSnapshot;
  };

  beforeAll(async () => {
    ensureTestImage();
    for (const s of Object.values(setups)) await runTestContainer(s.name, s.args, holdShm(s.mib));
    await eventually(
      async () => {
        const mine = ours(await once());
        return mine.length === 4 &&
          mine.every(
            (c) =>
              (c.working_set_bytes ?? 0) >=
              (Object.values(setups).find((s) => s.name === c.name)?.mib ?? 0) * MiB,
          )
          ? true
          : undefined;
      },
      20_000,
      'every container holding its memory',
    );
  }, 60_000);

  afterAll(() => removeContainers(names));

  it('orders containers by limit ratio, unlimited ones last and flagged', async () => {
    const mine = ours(await once());
    expect(mine.map((c) => c.name)).toEqual([
      setups.hot.name,
      setups.warm.name,
      setups.cool.name,
      setups.free.name,
    ]);
    const [hot, warm, cool, free] = mine;
    expect(hot?.limit_bytes).toBe(48 * MiB);
    expect(hot?.limit_ratio).toBeGreaterThan(0.83);
    expect(warm?.limit_ratio).toBeGreaterThan(0.43);
    expect(cool?.limit_ratio).toBeLessThan(0.12);
    expect(free).toMatchObject({ unlimited: true, limit_bytes: null, limit_ratio: null });
  });

  it('prints a plain table when stdout is not a terminal, with usage bars and NO LIMIT', async () => {
    const r = await runCli([
      'top',
      '--once',
      '--state-dir',
      '/nonexistent',
      '--cgroup-root',
      '/sys/fs/cgroup',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\x1b');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^oomwatch top {2}\S+Z {2}\d+ containers?, \d+ without a limit, host memory \d+(\.\d+)? GiB$/,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^CONTAINER\s+ID\s+WORKING SET\s+LIMIT\s+RATIO\s+USAGE\/LIMIT\s+PSI10\s+OOM KILLS$/,
      ),
    );
    const row = (name: string): string => lines.find((l) => l.startsWith(`${name} `)) ?? '';
    expect(row(setups.hot.name)).toMatch(/\s48 MiB\s+8\d\.\d%\s+\[#{17}-{3}\]/);
    expect(row(setups.free.name)).toMatch(/\snone\s+-\s+NO LIMIT/);
    const order = names.map((n) => lines.findIndex((l) => l.startsWith(`${n} `)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('refreshes until Ctrl-C when not asked for one snapshot, then exits 0', async () => {
    const top = startCli([
      'top',
      '--interval',
      '300ms',
      '--state-dir',
      '/nonexistent',
      '--cgroup-root',
      '/sys/fs/cgroup',
    ]);
    const headers = async (n: number): Promise<true | undefined> =>
      top.lines.filter((l) => l.text.startsWith('oomwatch top ')).length >= n ? true : undefined;
    await eventually(() => headers(3), 15_000, 'three snapshots');
    expect(await top.interrupt()).toBe(0);
    expect(top.lines.map((l) => l.text).join('\n')).not.toContain('\x1b');
  });
});
