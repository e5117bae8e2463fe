import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectLayout } from '../../src/cgroup/layout';
import { CgroupReader, FdBudget, SETTINGS_MAX_AGE_MS, fileOf, readFields } from '../../src/cgroup/reader';
import { fixtureId } from '../helpers/fixture-ids';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * CgroupReader on the fixture trees: every file of a container read into one sample, the derived values,
 * and what happens when files or the whole cgroup go away. Expected figures are read from the fixture files
 * by the test itself, so a new capture does not need new numbers here.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');

function copyOf(mode: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-reader-'));
  fs.cpSync(path.join(FIXTURES, mode), root, { recursive: true });
  return root;
}
const num = (file: string): number => Number(fs.readFileSync(file, 'latin1').trim());
const statKey = (dir: string, key: string): number =>
  Number(
    new RegExp(`^${key} (\\d+)$`, 'm').exec(fs.readFileSync(path.join(dir, 'memory.stat'), 'latin1'))?.[1],
  );

describe('CgroupReader on v1 (files copied from this machine)', () => {
  const layout = detectLayout(path.join(FIXTURES, 'hybrid'));
  const rel = (name: string): string => `/docker/${fixtureId(name)}`;
  const dir = (name: string): string => path.join(layout.memoryRoot, rel(name));

  it('reads a container with a limit, page cache past it and swap allowed', () => {
    const reader = new CgroupReader(layout, rel('cache'), new FdBudget(64));
    const { vanished, recreated, sample, errors } = reader.read(1000);
    const d = dir('cache');
    expect({ vanished, recreated, errors }).toEqual({ vanished: false, recreated: false, errors: [] });
    expect(sample).toMatchObject({
      readAtMs: 1000,
      usage: num(path.join(d, 'memory.usage_in_bytes')),
      limit: 16 * 1024 * 1024,
      reservation: Infinity, // the soft limit's unlimited sentinel
      peak: num(path.join(d, 'memory.max_usage_in_bytes')),
      swapLimit: 16 * 1024 * 1024, // memsw 32 MiB minus the 16 MiB memory limit
      swap: 0,
      oomKillDisabled: false,
      underOom: false,
      oomKills: 0,
      // memory.failcnt plus memory.memsw.failcnt
      limitHits: num(path.join(d, 'memory.failcnt')) + num(path.join(d, 'memory.memsw.failcnt')),
      workingSet: num(path.join(d, 'memory.usage_in_bytes')) - statKey(d, 'total_inactive_file'),
    });
    expect(sample.limitHits).toBeGreaterThan(0);
    expect(sample.workingSet).toBeLessThan(sample.usage as number);
    // hybrid: PSI from the v2 tree at the same path
    expect(sample.pressure?.some.totalMicroseconds).toBeGreaterThanOrEqual(0);
    reader.close();
  });

  it('reads an unlimited container as Infinity, and the OOM-killed and frozen ones', () => {
    const budget = new FdBudget(64);
    expect(new CgroupReader(layout, rel('batch'), budget).read().sample).toMatchObject({
      limit: Infinity,
      swapLimit: Infinity,
    });
    expect(new CgroupReader(layout, rel('oom'), budget).read().sample).toMatchObject({
      oomKills: 2,
      limit: 32 * 1024 * 1024,
      swapLimit: 0,
    });
    expect(new CgroupReader(layout, rel('frozen'), budget).read().sample).toMatchObject({
      oomKillDisabled: true,
      underOom: true,
    });
  });

  it('keeps one descriptor per file present and reuses them on the next read', () => {
    const budget = new FdBudget(64);
    const reader = new CgroupReader(layout, rel('web'), budget);
    reader.read();
    const open = reader.openFiles;
    // usage, limit, soft limit, max usage, memsw limit, stat, oom_control, failcnt, memsw.failcnt, pressure
    expect(open).toBe(10);
    expect(budget.inUse).toBe(open);
    reader.read();
    expect(budget.inUse).toBe(open);
    reader.close();
    expect(budget.inUse).toBe(0);
  });

  it('reads every file anyway when the descriptor budget is spent (open, read, close each time)', () => {
    const reader = new CgroupReader(layout, rel('web'), new FdBudget(0));
    const { sample, errors } = reader.read();
    expect(errors).toEqual([]);
    expect(sample.usage).toBe(num(path.join(dir('web'), 'memory.usage_in_bytes')));
    expect(reader.openFiles).toBe(0);
  });
});

describe('CgroupReader on v2 (files of the 6.1 kernel, captured in the VM)', () => {
  const layout = detectLayout(path.join(FIXTURES, 'v2'));
  const eventKey = (dir: string, key: string): number =>
    Number(
      new RegExp(`^${key} (\\d+)$`, 'm').exec(
        fs.readFileSync(path.join(dir, 'memory.events'), 'latin1'),
      )?.[1],
    );

  it('reads memory.events, memory.high, memory.swap.*, memory.peak and memory.oom.group', () => {
    const k8s = fs
      .readdirSync(path.join(layout.memoryRoot, 'kubepods.slice', 'kubepods-burstable.slice'))
      .find((d) => d.startsWith('kubepods-burstable-pod'));
    const rel = `/kubepods.slice/kubepods-burstable.slice/${k8s}/cri-containerd-${fixtureId('v2-k8s-app')}.scope`;
    const d = path.join(layout.memoryRoot, rel);
    const { sample, errors } = new CgroupReader(layout, rel, new FdBudget(64)).read();
    expect(errors).toEqual([]);
    // The captured "group" container: a 32 MiB limit without swap, memory.oom.group 1, one OOM that killed
    // its three processes (the kernel counts the first victim twice in oom_kill).
    expect(eventKey(d, 'oom_kill')).toBeGreaterThanOrEqual(3);
    expect(sample).toMatchObject({
      limit: 32 * 1024 * 1024,
      high: Infinity,
      reservation: 0,
      swapLimit: 0,
      oomKills: eventKey(d, 'oom_kill'),
      oomEvents: 1,
      oomGroupKills: 1,
      oomGroup: true,
      limitHits: eventKey(d, 'max'),
      highEvents: 0,
      peak: num(path.join(d, 'memory.peak')),
    });
    expect(sample.stat).toMatchObject({
      rss: statKey(d, 'anon'),
      cache: statKey(d, 'file'),
      inactiveFile: statKey(d, 'inactive_file'),
    });
  });

  it('reads the throttling threshold, swap and memory.stat of the systemd-driver container', () => {
    const rel = `/system.slice/docker-${fixtureId('api')}.scope`;
    const d = path.join(layout.memoryRoot, rel);
    const { sample } = new CgroupReader(layout, rel, new FdBudget(64)).read();
    // The captured "running" container: memory.high 48 MiB, memory.swap.max 0 (the VM has no swap device).
    expect(eventKey(d, 'high')).toBeGreaterThan(0);
    expect(sample).toMatchObject({
      high: 48 * 1024 * 1024,
      swap: 0,
      swapLimit: 0,
      highEvents: eventKey(d, 'high'),
    });
    // Its page cache is mostly inactive: the working set leaves it out.
    expect(statKey(d, 'inactive_file')).toBeGreaterThan(0);
    expect(sample.stat).toMatchObject({
      rss: statKey(d, 'anon'),
      cache: statKey(d, 'file'),
      inactiveFile: statKey(d, 'inactive_file'),
    });
    expect(sample.workingSet).toBe(num(path.join(d, 'memory.current')) - statKey(d, 'inactive_file'));
  });
});

describe('CgroupReader when files go away', () => {
  let root: string;
  beforeEach(() => {
    root = copyOf('v1');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reports a removed cgroup as vanished, with no error (normal churn)', () => {
    const layout = detectLayout(root);
    const rel = `/docker/${fixtureId('web')}`;
    const reader = new CgroupReader(layout, rel, new FdBudget(64));
    fs.rmSync(path.join(layout.memoryRoot, rel), { recursive: true });
    expect(reader.read()).toMatchObject({ vanished: true, errors: [] });
  });

  it('leaves out a file this kernel does not have (swap accounting off) without an error, and stops looking for it', () => {
    const layout = detectLayout(root);
    const rel = `/docker/${fixtureId('web')}`;
    const d = path.join(layout.memoryRoot, rel);
    for (const f of fs.readdirSync(d).filter((f) => f.startsWith('memory.memsw.')))
      fs.rmSync(path.join(d, f));
    const reader = new CgroupReader(layout, rel, new FdBudget(64));
    const { sample, errors } = reader.read();
    expect(errors).toEqual([]);
    expect(sample.swapLimit).toBeUndefined();
    expect(sample.limitHits).toBe(num(path.join(d, 'memory.failcnt')));
    // once known to be absent it is not retried: putting it back is not picked up until the reader is new
    fs.writeFileSync(path.join(d, 'memory.memsw.limit_in_bytes'), '1\n');
    expect(reader.read().sample.swapLimit).toBeUndefined();
  });

  it('reports a required file missing from a cgroup that is still there as an error of that file only', () => {
    const layout = detectLayout(root);
    const rel = `/docker/${fixtureId('web')}`;
    fs.rmSync(path.join(layout.memoryRoot, rel, 'memory.stat'));
    const { vanished, sample, errors } = new CgroupReader(layout, rel, new FdBudget(64)).read();
    expect(vanished).toBe(false);
    expect(errors).toEqual([
      {
        file: 'memory.stat',
        kind: 'missing_file',
        message: expect.stringContaining('memory.stat is missing'),
      },
    ]);
    expect(sample.usage).toBeGreaterThan(0);
    expect(sample.stat).toBeUndefined();
    expect(sample.workingSet).toBeUndefined();
  });
});

describe('readFields: single values through the file table, outside any poll', () => {
  it.each<[1 | 2, 'limit' | 'swappiness' | 'usage', string | undefined]>([
    [1, 'limit', 'memory.limit_in_bytes'],
    [2, 'limit', 'memory.max'],
    [1, 'usage', 'memory.usage_in_bytes'],
    [2, 'usage', 'memory.current'],
    [1, 'swappiness', 'memory.swappiness'],
    [2, 'swappiness', undefined],
  ])('v%p %s is in %p', (version, field, file) => {
    expect(fileOf(version, field)).toBe(file);
  });

  it("reads a v1 container's memory.swappiness (which no poll reads) and its limit, with the poll's parsers", () => {
    const layout = detectLayout(path.join(FIXTURES, 'v1'));
    const rel = `/docker/${fixtureId('web')}`;
    const d = path.join(layout.memoryRoot, rel);
    expect(readFields(layout, rel, ['swappiness', 'limit'])).toEqual({
      swappiness: num(path.join(d, 'memory.swappiness')),
      limit: num(path.join(d, 'memory.limit_in_bytes')),
    });
    expect(new CgroupReader(layout, rel, new FdBudget(64)).read().sample.swappiness).toBeUndefined();
    // The v1 "no limit" sentinel is Infinity, as in a poll.
    expect(readFields(layout, '/', ['limit']).limit).toBe(Infinity);
  });

  it('leaves out what the cgroup or this version does not have', () => {
    const layout = detectLayout(path.join(FIXTURES, 'v2'));
    expect(readFields(layout, '/docker', ['swappiness'])).toEqual({});
    expect(readFields(layout, '/no-such-cgroup', ['limit'])).toEqual({});
  });
});

/**
 * Settings (limits, reservation, memory.oom.group) change when someone changes the container, not as it runs:
 * they are read at the first read, when older than SETTINGS_MAX_AGE_MS, after settingsChanged() and for a cgroup
 * recreated at the same path; the polls in between carry them, and read only the figures.
 */
describe('CgroupReader reads a container’s settings when they may have changed, not at every poll', () => {
  const id = fixtureId('cache');
  const setUp = (): {
    root: string;
    layout: ReturnType<typeof detectLayout>;
    dir: string;
    reader: CgroupReader;
  } => {
    const root = copyOf('hybrid');
    const layout = detectLayout(root);
    const reader = new CgroupReader(layout, `/docker/${id}`, new FdBudget(64));
    return { root, layout, dir: path.join(layout.memoryRoot, 'docker', id), reader };
  };

  it('carries the limit between reads within SETTINGS_MAX_AGE_MS, and reads it again past it', () => {
    const { root, dir, reader } = setUp();
    const t0 = 1_000_000;
    expect(reader.read(t0).sample.limit).toBe(16 * 1024 * 1024);
    fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), `${32 * 1024 * 1024}\n`);
    fs.writeFileSync(path.join(dir, 'memory.usage_in_bytes'), '4096\n');
    const between = reader.read(t0 + SETTINGS_MAX_AGE_MS - 1).sample;
    // The figures are read at every poll, the setting is the one last read (and the swap allowance with it).
    expect(between.usage).toBe(4096);
    expect(between.limit).toBe(16 * 1024 * 1024);
    expect(between.swapLimit).toBe(16 * 1024 * 1024);
    const after = reader.read(t0 + SETTINGS_MAX_AGE_MS).sample;
    expect(after.limit).toBe(32 * 1024 * 1024);
    expect(after.swapLimit).toBe(0); // memsw 32 MiB minus the new 32 MiB limit
    reader.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('reads them at the next read after settingsChanged() (Docker reported an update)', () => {
    const { root, dir, reader } = setUp();
    reader.read(1000);
    fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), `${8 * 1024 * 1024}\n`);
    expect(reader.read(2000).sample.limit).toBe(16 * 1024 * 1024);
    reader.settingsChanged();
    expect(reader.read(3000).sample.limit).toBe(8 * 1024 * 1024);
    reader.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('reads a settings file that failed again at the next read, not 30 s later', () => {
    const { root, dir, reader } = setUp();
    fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), 'garbage\n');
    const first = reader.read(1000);
    expect(first.errors.map((e) => e.file)).toEqual(['memory.limit_in_bytes']);
    expect(first.sample.limit).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), `${16 * 1024 * 1024}\n`);
    const second = reader.read(2000);
    expect(second.errors).toEqual([]);
    expect(second.sample.limit).toBe(16 * 1024 * 1024);
    reader.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('CgroupReader reads limit-hit counters with the settings while the limit they count is unlimited', () => {
  // The kernel counts a refused charge in the counter whose limit refused it (mm/page_counter.c
  // page_counter_try_charge), so a container's own failcnt cannot move while its own limit is unlimited.
  const setUp = (name: string): { root: string; dir: string; reader: CgroupReader } => {
    const root = copyOf('hybrid');
    const layout = detectLayout(root);
    const id = fixtureId(name);
    const reader = new CgroupReader(layout, `/docker/${id}`, new FdBudget(64));
    return { root, dir: path.join(layout.memoryRoot, 'docker', id), reader };
  };
  const write = (dir: string, file: string, value: number | string): void =>
    fs.writeFileSync(path.join(dir, file), `${value}\n`);

  it('carries the last count of an unlimited container between settings reads, and loses no hit', () => {
    const { root, dir, reader } = setUp('batch');
    const t0 = 1_000_000;
    const first = reader.read(t0).sample;
    expect(first.limit).toBe(Infinity);
    const before = num(path.join(dir, 'memory.failcnt')) + num(path.join(dir, 'memory.memsw.failcnt'));
    expect(first.limitHits).toBe(before);
    write(dir, 'memory.failcnt', 7);
    write(dir, 'memory.memsw.failcnt', 3);
    // Within the settings age the files are not read: the count is the last one read, not dropped.
    expect(reader.read(t0 + 2000).sample.limitHits).toBe(before);
    // A limit set behind oomwatch's back (no update event) is seen at the next settings read, with every hit.
    write(dir, 'memory.limit_in_bytes', 8 * 1024 * 1024);
    const settingsRead = reader.read(t0 + SETTINGS_MAX_AGE_MS).sample;
    expect(settingsRead.limit).toBe(8 * 1024 * 1024);
    expect(settingsRead.limitHits).toBe(10);
    // Now limited: memory.failcnt is read at every poll (memsw is still unlimited, so its count is carried).
    write(dir, 'memory.failcnt', 8);
    write(dir, 'memory.memsw.failcnt', 4);
    expect(reader.read(t0 + SETTINGS_MAX_AGE_MS + 2000).sample.limitHits).toBe(8 + 3);
    reader.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('reads them at every poll while the container has its limits', () => {
    const { root, dir, reader } = setUp('cache');
    reader.read(1000);
    write(dir, 'memory.failcnt', 40);
    write(dir, 'memory.memsw.failcnt', 2);
    expect(reader.read(2000).sample.limitHits).toBe(42);
    reader.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('reads them at the next read after settingsChanged() (docker update may have set a limit)', () => {
    const { root, dir, reader } = setUp('batch');
    reader.read(1000);
    write(dir, 'memory.limit_in_bytes', 8 * 1024 * 1024);
    write(dir, 'memory.failcnt', 5);
    write(dir, 'memory.memsw.failcnt', 0);
    reader.settingsChanged();
    expect(reader.read(2000).sample).toMatchObject({ limit: 8 * 1024 * 1024, limitHits: 5 });
    reader.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('CgroupReader.read into the last sample (what the poller does)', () => {
  const root = copyOf('hybrid');
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const layout = detectLayout(root);
  const id = fixtureId('cache');
  const dir = path.join(layout.memoryRoot, 'docker', id);

  it('rewrites the same objects with the same values a fresh read gives, and leaves no old value behind', () => {
    const reader = new CgroupReader(layout, `/docker/${id}`, new FdBudget(64));
    const fresh = new CgroupReader(layout, `/docker/${id}`, new FdBudget(64));
    const first = reader.read(1000).sample;
    const stat = first.stat;
    const pressure = first.pressure;
    expect(stat).toBeDefined();
    expect(pressure).toBeDefined();

    fs.writeFileSync(path.join(dir, 'memory.usage_in_bytes'), '123456\n');
    const second = reader.read(2000, first);
    expect(second.sample).toBe(first);
    expect(first.stat).toBe(stat);
    expect(first.pressure).toBe(pressure);
    expect(first).toEqual(fresh.read(2000).sample);
    expect(first.usage).toBe(123456);

    // A file that fails leaves its own fields undefined, not last poll's values.
    fs.writeFileSync(path.join(dir, 'memory.stat'), 'not a stat file\n');
    fs.writeFileSync(path.join(dir, 'memory.oom_control'), 'garbage\n');
    const third = reader.read(3000, first);
    expect(third.errors.map((e) => e.file).sort()).toEqual(['memory.oom_control', 'memory.stat']);
    expect(first.stat).toBeUndefined();
    expect(first.workingSet).toBeUndefined();
    expect(first.oomKills).toBeUndefined();
    expect(first.underOom).toBeUndefined();
    expect(first.usage).toBe(123456);
    expect(first.readAtMs).toBe(3000);
    reader.close();
    fresh.close();
  });
});
