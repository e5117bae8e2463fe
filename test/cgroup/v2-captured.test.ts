import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectLayout } from '../../src/cgroup/layout';
import { type MemoryEvents, parseMemoryEvents } from '../../src/cgroup/memory-events';
import { memoryStatFigures, parseMemoryStat } from '../../src/cgroup/memory-stat';
import { type Parsed, parseCount, parseLimit } from '../../src/cgroup/parse';
import { parsePressure } from '../../src/cgroup/pressure';
import { CgroupReader, FdBudget, filesReadPerContainer } from '../../src/cgroup/reader';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * The cgroup v2 parsers on files Debian's 6.1 kernel really wrote: test/fixtures/cgroup/v2-captured, two
 * cgroup v2 roots captured in the VM by `npm run fixtures:v2` (test/vm/capture-fixtures.ts; CAPTURED says
 * when, containers.json what each container did). Every memory.* file of every captured cgroup goes through
 * the parser oomwatch reads it with, and each container's figures must be what its situation implies: a
 * limit is a byte count and no limit is `max` (Infinity), a limit OOM shows in `oom` and `oom_kill`, a
 * memory.oom.group kill in `oom_group_kill`, a global OOM in `oom_kill` alone.
 *
 * The v2 fixture tree of the saved-scrape test (test/fixtures/cgroup/v2) is made from this capture by
 * test/helpers/make-v2-tree.mjs; the last block checks that it still is.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');
const CAPTURED = path.join(FIXTURES, 'v2-captured');
const V2_TREE = path.join(FIXTURES, 'v2');
const MiB = 1024 * 1024;

interface CapturedContainer {
  /** The captured root (a directory of CAPTURED) that holds it. */
  tree: string;
  name: string;
  id: string;
  /** Relative to its root, without the leading slash. */
  cgroup: string;
  podUid?: string;
  state: string;
}

const containers = JSON.parse(
  fs.readFileSync(path.join(CAPTURED, 'containers.json'), 'utf8'),
) as CapturedContainer[];
const roots = fs
  .readdirSync(CAPTURED, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);
const dirOf = (c: CapturedContainer): string => path.join(CAPTURED, c.tree, c.cgroup);

/** A cgroup directory and every cgroup below it. */
function cgroupsUnder(dir: string): string[] {
  return [
    dir,
    ...fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => cgroupsUnder(path.join(dir, e.name))),
  ];
}

const memoryFilesOf = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.startsWith('memory.'))
    .map((e) => e.name);

/** The parser src/cgroup/reader.ts reads each file with (memory.min and memory.events.local: the same kind). */
const PARSER_OF: Record<string, (text: string) => Parsed<unknown>> = {
  'memory.current': parseCount,
  'memory.peak': parseCount,
  'memory.swap.current': parseCount,
  'memory.oom.group': parseCount,
  'memory.max': parseLimit,
  'memory.high': parseLimit,
  'memory.low': parseLimit,
  'memory.min': parseLimit,
  'memory.swap.max': parseLimit,
  'memory.stat': (text) => parseMemoryStat(text, 2),
  'memory.events': parseMemoryEvents,
  'memory.events.local': parseMemoryEvents,
  'memory.pressure': parsePressure,
};

const allMemoryFiles: Array<[string, string]> = roots
  .flatMap((root) => cgroupsUnder(path.join(CAPTURED, root)))
  .flatMap((dir) => memoryFilesOf(dir).map((name) => path.join(dir, name)))
  .map((file) => [path.relative(CAPTURED, file), file]);

const read = (file: string): string => fs.readFileSync(file, 'latin1');

function parsed<T>(r: Parsed<T>, file: string): T {
  if (!r.ok) throw new Error(`${path.relative(CAPTURED, file)}: ${r.error}`);
  return r.value;
}

/** One captured cgroup's files, each through its parser. */
function figuresOf(dir: string) {
  const at = (name: string): string => path.join(dir, name);
  const count = (name: string): number => parsed(parseCount(read(at(name))), at(name));
  const limit = (name: string): number => parsed(parseLimit(read(at(name))), at(name));
  const events = (name: string): MemoryEvents => parsed(parseMemoryEvents(read(at(name))), at(name));
  return {
    current: count('memory.current'),
    peak: count('memory.peak'),
    max: limit('memory.max'),
    high: limit('memory.high'),
    low: limit('memory.low'),
    swapCurrent: count('memory.swap.current'),
    swapMax: limit('memory.swap.max'),
    oomGroup: count('memory.oom.group'),
    events: events('memory.events'),
    eventsLocal: events('memory.events.local'),
    stat: parsed(parseMemoryStat(read(at('memory.stat')), 2), at('memory.stat')),
    pressure: parsed(parsePressure(read(at('memory.pressure'))), at('memory.pressure')),
  };
}
type Figures = ReturnType<typeof figuresOf>;

describe('the capture', () => {
  it('has both roots, the six containers containers.json names, and every file oomwatch reads of each', () => {
    expect(roots.sort()).toEqual(['global-oom', 'layouts']);
    expect(containers.map((c) => c.name).sort()).toEqual(
      ['group', 'oomed', 'podlimited', 'running', 'unlimited', 'victim'].sort(),
    );
    for (const c of containers) {
      expect({ c: c.name, dir: fs.existsSync(dirOf(c)) }).toEqual({ c: c.name, dir: true });
      const have = memoryFilesOf(dirOf(c));
      for (const { file } of filesReadPerContainer(2))
        expect({ c: c.name, file, present: have.includes(file) }).toEqual({ c: c.name, file, present: true });
    }
  });

  it('has a parser for every memory file it holds', () => {
    expect(allMemoryFiles.length).toBeGreaterThan(100);
    const names = new Set(allMemoryFiles.map(([, file]) => path.basename(file)));
    expect([...names].filter((n) => PARSER_OF[n] === undefined)).toEqual([]);
    // and every parser has real files to read
    expect(Object.keys(PARSER_OF).filter((n) => !names.has(n))).toEqual([]);
  });
});

describe('every memory file the 6.1 kernel wrote', () => {
  it.each(allMemoryFiles)('%s parses', (_rel, file) => {
    const parser = PARSER_OF[path.basename(file)] as (text: string) => Parsed<unknown>;
    const r = parser(read(file));
    expect(r.ok ? 'ok' : r.error).toBe('ok');
  });
});

/**
 * What each container's situation (containers.json) implies for its files. Counts the kernel decides run to
 * run (how many OOM situations before the kill, how often usage hit the limit) are bounds, not values.
 */
const SITUATIONS: Array<[string, (f: Figures, dir: string) => void]> = [
  [
    'running',
    (f) => {
      // docker run --memory 64m --memory-swap 64m --memory-reservation 8m, memory.high 48 MiB
      expect(f).toMatchObject({ max: 64 * MiB, high: 48 * MiB, low: 8 * MiB, swapMax: 0, swapCurrent: 0 });
      expect(f.events).toMatchObject({ oom: 0, oomKill: 0, oomGroupKill: 0 });
      // usage went past memory.high and was reclaimed back under it (throttled, never killed): high events,
      // a peak above memory.high, and stall time
      expect(f.events.high).toBeGreaterThan(0);
      expect(f.peak).toBeGreaterThan(f.high);
      expect(f.current).toBeLessThanOrEqual(f.high);
      expect(f.pressure.some.totalMicroseconds).toBeGreaterThan(0);
      expect(f.stat.rss).toBeGreaterThanOrEqual(24 * MiB);
      expect(f.stat.inactiveFile).toBeGreaterThan(0);
    },
  ],
  [
    'unlimited',
    (f) => {
      expect(f).toMatchObject({ max: Infinity, high: Infinity, low: 0, swapMax: Infinity, oomGroup: 0 });
      expect(f.events).toEqual({ low: 0, high: 0, max: 0, oom: 0, oomKill: 0, oomGroupKill: 0 });
      expect(f.stat.rss).toBeGreaterThanOrEqual(8 * MiB);
    },
  ],
  [
    'oomed',
    (f) => {
      expect(f).toMatchObject({ max: 32 * MiB, swapMax: 0, oomGroup: 0 });
      // one process killed; the OOM situations before it and the hits of the limit are at least one each
      expect(f.events).toMatchObject({ oomKill: 1, oomGroupKill: 0 });
      expect(f.events.oom).toBeGreaterThanOrEqual(1);
      expect(f.events.max).toBeGreaterThanOrEqual(1);
      // usage reached the limit (within one charge batch); the main process lives on
      expect(f.max - f.peak).toBeLessThan(MiB);
      expect(f.current).toBeGreaterThan(0);
    },
  ],
  [
    'group',
    (f) => {
      expect(f).toMatchObject({ max: 32 * MiB, swapMax: 0, oomGroup: 1 });
      // One OOM situation, one group kill of three processes. oom_kill counts each `Killed process` record:
      // the first victim is killed (and counted) once by itself and once more as a member of the group
      // (mm/oom_kill.c oom_kill_process, then oom_kill_memcg_member for every task of the cgroup), so 3 or 4.
      expect(f.events).toMatchObject({ oom: 1, oomGroupKill: 1 });
      expect(f.events.oomKill).toBeGreaterThanOrEqual(3);
      expect(f.events.oomKill).toBeLessThanOrEqual(4);
      // every process is gone: no anonymous memory left
      expect(f.stat.rss).toBe(0);
      expect(f.max - f.peak).toBeLessThan(MiB);
    },
  ],
  [
    'podlimited',
    (f, dir) => {
      expect(f).toMatchObject({ max: Infinity, swapMax: Infinity });
      expect(f.events).toMatchObject({ oom: 0, oomKill: 0 });
      // the limit is the pod's: kubepods-burstable-pod<uid>.slice/memory.max
      expect(parseLimit(read(path.join(dir, '..', 'memory.max')))).toEqual({ ok: true, value: 96 * MiB });
      expect(f.stat.rss).toBeGreaterThanOrEqual(16 * MiB);
    },
  ],
  [
    'victim',
    (f) => {
      // No limit, killed by a global OOM: oom_kill counts the kill, `oom` (this cgroup's own OOM situations)
      // and `max` (its limit hit) stay 0.
      expect(f).toMatchObject({ max: Infinity, swapMax: Infinity });
      expect(f.events).toEqual({ low: 0, high: 0, max: 0, oom: 0, oomKill: 1, oomGroupKill: 0 });
      // the allocation grew until the whole VM ran out, then was freed by the kill
      expect(f.peak).toBeGreaterThan(128 * MiB);
      expect(f.current).toBeLessThan(f.peak / 100);
    },
  ],
];

describe('each captured container, as its situation implies', () => {
  it('covers every container of containers.json', () => {
    expect(SITUATIONS.map(([name]) => name).sort()).toEqual(containers.map((c) => c.name).sort());
  });

  it.each(SITUATIONS)('%s', (name, implied) => {
    const c = containers.find((x) => x.name === name) as CapturedContainer;
    const dir = dirOf(c);
    const f = figuresOf(dir);
    implied(f, dir);

    // What holds for every container: usage within the limit and the peak, the memory.stat figures within
    // usage, full stalls within some stalls, and, with no child cgroups, events equal to the local events.
    expect(f.current).toBeLessThanOrEqual(f.max);
    expect(f.peak).toBeLessThanOrEqual(f.max);
    expect(f.current).toBeLessThanOrEqual(f.peak);
    expect(f.stat.rss + f.stat.cache).toBeLessThanOrEqual(f.current);
    expect(f.stat.inactiveFile).toBeLessThanOrEqual(f.stat.cache);
    expect(f.pressure.full?.totalMicroseconds).toBeLessThanOrEqual(f.pressure.some.totalMicroseconds);
    expect(f.eventsLocal).toEqual(f.events);
  });

  it.each(containers.map((c) => [c.name, c] as const))(
    '%s: CgroupReader reads what the parsers read, with no error',
    (_name, c) => {
      const layout = detectLayout(path.join(CAPTURED, c.tree));
      expect(layout.mode).toBe('v2');
      const reader = new CgroupReader(layout, `/${c.cgroup}`, new FdBudget(64));
      const { sample, errors, vanished } = reader.read(1000);
      reader.close();
      expect({ errors, vanished }).toEqual({ errors: [], vanished: false });
      const f = figuresOf(dirOf(c));
      expect(sample).toEqual({
        readAtMs: 1000,
        usage: f.current,
        limit: f.max,
        reservation: f.low,
        high: f.high,
        swap: f.swapCurrent,
        swapLimit: f.swapMax,
        peak: f.peak,
        stat: memoryStatFigures(f.stat),
        workingSet: Math.max(0, f.current - f.stat.inactiveFile),
        oomKills: f.events.oomKill,
        limitHits: f.events.max,
        highEvents: f.events.high,
        oomEvents: f.events.oom,
        oomGroupKills: f.events.oomGroupKill,
        oomGroup: f.oomGroup === 1,
        pressure: f.pressure,
      });
    },
  );
});

describe('memory.events up the captured trees', () => {
  // mm/memcontrol.c memcg_memory_event(): an event counts in memory.events.local of the cgroup it happened
  // in and in memory.events of it and every ancestor below the root. So a parent's memory.events is its own
  // local events plus its children's memory.events (no cgroup was removed before the capture).
  const parents = roots
    .flatMap((root) => cgroupsUnder(path.join(CAPTURED, root)).slice(1))
    .filter((dir) => fs.readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory()))
    .map((dir) => [path.relative(CAPTURED, dir), dir] as const);

  it('has parents to check in both roots', () => {
    expect(new Set(parents.map(([rel]) => rel.split('/')[0]))).toEqual(new Set(roots));
  });

  it.each(parents)('%s: its local events plus its children', (_rel, dir) => {
    const children = fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => figuresOf(path.join(dir, e.name)).events);
    const own = figuresOf(dir);
    const sum = (key: keyof MemoryEvents): number =>
      (own.eventsLocal[key] ?? 0) + children.reduce((n, e) => n + (e[key] ?? 0), 0);
    expect(own.events).toEqual({
      low: sum('low'),
      high: sum('high'),
      max: sum('max'),
      oom: sum('oom'),
      oomKill: sum('oomKill'),
      oomGroupKill: sum('oomGroupKill'),
    });
  });
});

describe('the v2 fixture tree of the saved scrape is made from the capture', () => {
  // GENERATED lists, after its text, "  <cgroup of the fixture tree> <- <captured container>".
  const made = [...read(path.join(V2_TREE, 'GENERATED')).matchAll(/^ {2}(\S+) <- (\S+)$/gm)].map(
    (m) => [m[1] as string, m[2] as string] as const,
  );

  it('says so, and puts every captured situation in the tree', () => {
    expect(read(path.join(V2_TREE, 'GENERATED'))).toMatch(
      /^Written by test\/helpers\/make-v2-tree\.mjs from the capture test\/fixtures\/cgroup\/v2-captured /,
    );
    expect(new Set(made.map(([, name]) => name))).toEqual(new Set(containers.map((c) => c.name)));
  });

  it('has the root files of the capture', () => {
    for (const file of [...memoryFilesOf(path.join(CAPTURED, 'layouts')), 'cgroup.controllers'])
      expect({
        file,
        same: read(path.join(V2_TREE, file)) === read(path.join(CAPTURED, 'layouts', file)),
      }).toEqual({ file, same: true });
  });

  it.each(made)('%s: every memory file is that of the captured container %s', (rel, name) => {
    const source = dirOf(containers.find((c) => c.name === name) as CapturedContainer);
    const target = path.join(V2_TREE, rel);
    expect(memoryFilesOf(target).sort()).toEqual(memoryFilesOf(source).sort());
    for (const file of memoryFilesOf(source))
      expect({ file, text: read(path.join(target, file)) }).toEqual({
        file,
        text: read(path.join(source, file)),
      });
  });
});
