import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectLayout } from '../../src/cgroup/layout';
import { CgroupReader, FdBudget } from '../../src/cgroup/reader';
import { createLogger } from '../../src/log';
import { SelfMetrics } from '../../src/metrics/self';
import { Poller } from '../../src/sources/cgroup-poller';
import { ContainerTable } from '../../src/state/containers';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * Past the open-files limit (less what oomwatch keeps for itself) cgroup files are opened, read and closed on
 * every poll. That still gives every figure, costs about three times the kernel time, and must be said once
 * with the fix, and the count of such files must come back down as containers go.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');

describe('a descriptor budget smaller than the files to read', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-fd-budget-'));
    fs.cpSync(path.join(FIXTURES, 'v1'), root, { recursive: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reads every file anyway, the same as with descriptors to spare', () => {
    const layout = detectLayout(root);
    const rel = fs
      .readdirSync(path.join(layout.memoryRoot, 'docker'), { withFileTypes: true })
      .find((e) => e.isDirectory());
    expect(rel).toBeDefined();
    const cgroup = `/docker/${rel?.name as string}`;
    const plenty = new CgroupReader(layout, cgroup, new FdBudget(64)).read(1);
    const tight = new FdBudget(3);
    const reader = new CgroupReader(layout, cgroup, tight);
    for (let poll = 0; poll < 2; poll++) {
      const r = reader.read(1);
      expect(r.errors).toEqual([]);
      expect(r.sample).toEqual(plenty.sample);
    }
    expect(tight.inUse).toBe(3);
    expect(tight.overflowing).toBeGreaterThan(0);
    reader.close();
    expect(tight.inUse).toBe(0);
    expect(tight.overflowing).toBe(0);
  });

  it('says so once, naming the limit to raise, and counts down as containers go', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const log = createLogger('debug', {
      write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>),
    });
    const budget = new FdBudget(5);
    const table = new ContainerTable();
    const poller = new Poller({
      layout: detectLayout(root),
      table,
      budget,
      log,
      report: new SelfMetrics({ processMetrics: false }),
      intervalMs: 3_600_000,
      seriesGraceMs: 0,
    });
    await poller.pollOnce();
    await poller.pollOnce();
    const warnings = logs.filter(
      (l) => typeof l['msg'] === 'string' && /open-files limit/.test(l['msg'] as string),
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.['msg']).toMatch(/raise the limit/);
    expect(warnings[0]).toMatchObject({ level: 'warn', budget: 5, keptOpen: 5 });
    expect(budget.overflowing).toBeGreaterThan(0);

    // Every container goes: their kept and per-poll files are all released.
    fs.rmSync(path.join(root, 'memory'), { recursive: true, force: true });
    fs.mkdirSync(path.join(root, 'memory'));
    fs.cpSync(
      path.join(FIXTURES, 'v1', 'memory', 'memory.usage_in_bytes'),
      path.join(root, 'memory', 'memory.usage_in_bytes'),
    );
    await poller.pollOnce();
    await poller.pollOnce();
    expect(table.size).toBe(0);
    expect(budget.inUse).toBe(0);
    expect(budget.overflowing).toBe(0);
    await poller.stop();
  });
});
