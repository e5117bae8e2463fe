import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixtureId } from '../helpers/fixture-ids';
import { detectLayout } from '../../src/cgroup/layout';
import { FdBudget } from '../../src/cgroup/reader';
import { createLogger } from '../../src/log';
import { MetricsRenderer } from '../../src/metrics/render';
import { SelfMetrics } from '../../src/metrics/self';
import { Poller } from '../../src/sources/cgroup-poller';
import { ContainerTable } from '../../src/state/containers';
import { findSamples, parseExposition, valueOf } from '../helpers/prom';
import { FIXTURES } from '../helpers/paths';

/**
 * The poll loop in-process over a copy of the v1 fixture tree, reading one container per turn of the event
 * loop (batchSize 1) so the test can remove a container's cgroup after discovery found it and before its
 * files are read: what normal churn looks like on a busy host.
 */
/** Self metrics wired to the table as main.ts wires them (oomwatch_containers by state). */
function selfMetricsOf(table: ContainerTable): SelfMetrics {
  return new SelfMetrics({
    processMetrics: false,
    containerCounts: () => {
      let present = 0;
      let gone = 0;
      for (const e of table.values())
        if (e.present) present++;
        else gone++;
      return { present, gone };
    },
  });
}

function setUp(
  batchSize = 1,
  tree = 'v1',
): {
  root: string;
  poller: Poller;
  table: ContainerTable;
  renderer: MetricsRenderer;
  logs: Array<Record<string, unknown>>;
} {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-poller-'));
  fs.cpSync(path.join(FIXTURES, 'cgroup', tree), root, { recursive: true });
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', {
    write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  const table = new ContainerTable();
  const self = selfMetricsOf(table);
  const poller = new Poller({
    layout: detectLayout(root),
    table,
    budget: new FdBudget(1024),
    log,
    report: self,
    intervalMs: 3_600_000,
    seriesGraceMs: 600_000,
    batchSize,
  });
  return { root, poller, table, renderer: new MetricsRenderer(table, self), logs };
}

describe('a container removed between discovery and the read of its files', () => {
  const s = setUp();
  afterAll(async () => {
    await s.poller.stop();
    fs.rmSync(s.root, { recursive: true, force: true });
  });

  it('is marked gone without an error or a log line, and the poll completes for every other container', async () => {
    // Containers are read in discovery order (docker/<frozen>, docker/<cache>, ...): the removal runs on the
    // event loop turn after the first read, before the second.
    const victim = path.join(s.root, 'memory', 'docker', fixtureId('cache'));
    setImmediate(() => fs.rmSync(victim, { recursive: true }));
    await s.poller.pollOnce();
    expect(fs.existsSync(victim)).toBe(false);

    const gone = s.table.get(fixtureId('cache'));
    expect(gone?.present).toBe(false);
    const scrape = parseExposition(await s.renderer.render('prometheus'));
    expect(findSamples(scrape, 'oomwatch_poll_errors_total').filter((e) => e.value !== 0)).toEqual([]);
    expect(s.logs.filter((l) => l['level'] === 'warn' || l['level'] === 'error')).toEqual([]);
    expect(valueOf(scrape, 'oomwatch_containers', { state: 'present' })).toBe(10);
    expect(valueOf(scrape, 'oomwatch_containers', { state: 'gone' })).toBe(1);
    expect(
      valueOf(scrape, 'oomwatch_container_memory_usage_bytes', { id: fixtureId('oom').slice(0, 12) }),
    ).toBeGreaterThan(0);
    expect(s.poller.ready).toBe(true);
    expect(s.poller.up).toBe(true);
  });
});

describe('--series-grace', () => {
  it('keeps the counters of a gone container for the grace period and drops everything after it', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-grace-'));
    fs.cpSync(path.join(FIXTURES, 'cgroup', 'v1'), root, { recursive: true });
    const table = new ContainerTable();
    const self = selfMetricsOf(table);
    const poller = new Poller({
      layout: detectLayout(root),
      table,
      budget: new FdBudget(1024),
      log: createLogger('silent'),
      report: self,
      intervalMs: 3_600_000,
      seriesGraceMs: 300,
    });
    const renderer = new MetricsRenderer(table, self);
    const oom = { id: fixtureId('oom').slice(0, 12) };
    try {
      await poller.pollOnce();
      fs.rmSync(path.join(root, 'memory', 'docker', fixtureId('oom')), { recursive: true });
      await poller.pollOnce();
      const during = parseExposition(await renderer.render('prometheus'));
      expect(valueOf(during, 'oomwatch_container_cgroup_oom_kills_total', oom)).toBe(2);
      expect(valueOf(during, 'oomwatch_container_memory_usage_bytes', oom)).toBeUndefined();
      expect(valueOf(during, 'oomwatch_container_info', oom)).toBeUndefined();

      await new Promise((r) => setTimeout(r, 350));
      await poller.pollOnce();
      const after = parseExposition(await renderer.render('prometheus'));
      expect(after.filter((x) => x.labels['id'] === oom.id)).toEqual([]);
      expect(valueOf(after, 'oomwatch_containers', { state: 'gone' })).toBe(0);
      expect(table.get(fixtureId('oom'))).toBeUndefined();
    } finally {
      await poller.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('a kernel without an optional cgroup file (cgroup v2 before 5.19: no memory.peak)', () => {
  const s = setUp(64, 'v2');
  afterAll(async () => {
    await s.poller.stop();
    fs.rmSync(s.root, { recursive: true, force: true });
  });

  it('exports no peak and says once, for all containers, why: the kernel is older than 5.19', async () => {
    const peaks: string[] = [];
    const walk = (dir: string): void => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.name === 'memory.peak') peaks.push(p);
      }
    };
    walk(s.root);
    expect(peaks.length).toBeGreaterThan(1);
    for (const p of peaks) fs.rmSync(p);
    await s.poller.pollOnce();
    await s.poller.pollOnce();
    const scrape = parseExposition(await s.renderer.render('prometheus'));
    expect(findSamples(scrape, 'oomwatch_container_memory_usage_bytes').length).toBeGreaterThan(1);
    expect(findSamples(scrape, 'oomwatch_container_memory_peak_bytes')).toEqual([]);
    const said = s.logs.filter((l) => String(l['msg']).startsWith('memory.peak does not exist'));
    expect(said).toHaveLength(1);
    expect(said[0]!['level']).toBe('info');
    expect(said[0]!['msg']).toMatch(/older than 5\.19.*oomwatch_container_memory_peak_bytes is not exported/);
    // Not a poll error: nothing is wrong with the host.
    expect(valueOf(scrape, 'oomwatch_poll_errors_total', { kind: 'missing_file' }) ?? 0).toBe(0);
  });
});

describe('memory.oom.group kills (v2 memory.events oom_group_kill, kernel 5.17+)', () => {
  const GROUP = 'a1'.padEnd(64, '0');
  const OLD_KERNEL = 'b2'.padEnd(64, '0');
  const events = (groupKills: number | undefined): string =>
    `low 0\nhigh 0\nmax 4\noom 2\noom_kill 3\n${groupKills === undefined ? '' : `oom_group_kill ${groupKills}\n`}`;
  function writeContainer(root: string, id: string, memoryEvents: string): string {
    const dir = path.join(root, 'system.slice', `docker-${id}.scope`);
    fs.mkdirSync(dir, { recursive: true });
    const files: Record<string, string> = {
      'memory.current': '10485760\n',
      'memory.max': '33554432\n',
      'memory.stat': 'anon 9437184\nfile 1048576\nfile_mapped 0\ninactive_file 524288\n',
      'memory.events': memoryEvents,
    };
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
    return dir;
  }

  it('counts them per container, monotonic across the cgroup being recreated; absent where the kernel has no such key', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-group-kills-'));
    fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    const groupDir = writeContainer(root, GROUP, events(2));
    const oldDir = writeContainer(root, OLD_KERNEL, events(undefined)); // memory.events of a kernel before 5.17
    const table = new ContainerTable();
    const self = selfMetricsOf(table);
    const poller = new Poller({
      layout: detectLayout(root),
      table,
      budget: new FdBudget(1024),
      log: createLogger('silent'),
      report: self,
      intervalMs: 3_600_000,
      seriesGraceMs: 600_000,
    });
    const renderer = new MetricsRenderer(table, self);
    const family = 'oomwatch_container_oom_group_kills_total';
    const group = { id: GROUP.slice(0, 12) };
    const old = { id: OLD_KERNEL.slice(0, 12) };
    const scrape = async () => parseExposition(await renderer.render('prometheus'));
    try {
      await poller.pollOnce();
      let s = await scrape();
      expect(valueOf(s, family, group)).toBe(2);
      expect(valueOf(s, family, old)).toBeUndefined();
      expect(valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', old)).toBe(3);

      fs.writeFileSync(path.join(groupDir, 'memory.events'), events(3));
      await poller.pollOnce();
      expect(valueOf(await scrape(), family, group)).toBe(3);

      // The container stopped (a poll sees it gone) and started again under the same id: a new cgroup,
      // counting from 0.
      fs.rmSync(groupDir, { recursive: true });
      await poller.pollOnce();
      expect(valueOf(await scrape(), family, group)).toBe(3);
      writeContainer(root, GROUP, events(1));
      await poller.pollOnce();
      expect(valueOf(await scrape(), family, group)).toBe(4);

      // Both gone: the counter stays for the grace period; the container without the key still has none.
      fs.rmSync(path.join(root, 'system.slice'), { recursive: true });
      await poller.pollOnce();
      s = await scrape();
      expect(valueOf(s, 'oomwatch_containers', { state: 'gone' })).toBe(2);
      expect(valueOf(s, family, group)).toBe(4);
      expect(valueOf(s, family, old)).toBeUndefined();
      expect(fs.existsSync(oldDir)).toBe(false);
    } finally {
      await poller.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
