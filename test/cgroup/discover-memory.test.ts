import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ContainerPaths from '../../src/cgroup/container-path';
import type { CgroupHints } from '../../src/cgroup/container-path';
import { DiscoveryMemory, discoverContainers } from '../../src/cgroup/discover';
import type { CgroupLayout } from '../../src/cgroup/layout';
import { FdBudget } from '../../src/cgroup/reader';
import { createLogger } from '../../src/log';
import { SelfMetrics } from '../../src/metrics/self';
import { Poller } from '../../src/sources/cgroup-poller';
import { ContainerTable } from '../../src/state/containers';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * The poller keeps a DiscoveryMemory so that a host that does not change has its paths parsed once. What
 * discovery finds must not depend on it: same containers, same order, and a change on disk seen at once.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');
const ID = (n: number): string => n.toString(16).padStart(64, 'a');

const asList = (found: Map<string, { cgroupPath: string }>): Array<[string, string]> =>
  [...found].map(([id, p]) => [id, p.cgroupPath]);

describe.each([
  ['v1', path.join(FIXTURES, 'v1', 'memory')],
  ['v2', path.join(FIXTURES, 'v2')],
  ['hybrid', path.join(FIXTURES, 'hybrid', 'memory')],
])('discovery with memory on the %s fixture tree', (_mode, root) => {
  it('finds what a walk without memory finds, in the same order, walk after walk', () => {
    const memory = new DiscoveryMemory();
    const fresh = asList(discoverContainers(root));
    expect(fresh.length).toBeGreaterThan(0);
    for (let walk = 0; walk < 3; walk++)
      expect(asList(discoverContainers(root, undefined, memory))).toEqual(fresh);
  });
});

describe('discovery with memory on a tree that changes', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-discover-memory-'));
    fs.mkdirSync(path.join(root, 'docker'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const add = (rel: string): void => {
    fs.mkdirSync(path.join(root, rel), { recursive: true });
  };

  it('sees containers appear and disappear between walks', () => {
    const memory = new DiscoveryMemory();
    add(`docker/${ID(1)}`);
    add(`docker/${ID(2)}`);
    expect([...discoverContainers(root, undefined, memory).keys()]).toEqual([ID(1), ID(2)]);

    fs.rmdirSync(path.join(root, 'docker', ID(1)));
    add(`docker/${ID(3)}`);
    expect([...discoverContainers(root, undefined, memory).keys()]).toEqual([ID(2), ID(3)]);

    // The same id back at the same path (a restart) is found again.
    add(`docker/${ID(1)}`);
    expect([...discoverContainers(root, undefined, memory).keys()]).toEqual([ID(1), ID(2), ID(3)]);
  });

  it('keeps a container at its own cgroup when a process makes sub-cgroups inside it', () => {
    const memory = new DiscoveryMemory();
    add(`docker/${ID(4)}/inner`);
    for (let walk = 0; walk < 2; walk++) {
      expect(asList(discoverContainers(root, undefined, memory))).toEqual([[ID(4), `/docker/${ID(4)}`]]);
    }
  });

  it('sees a directory that holds containers once it gets them (a slice created before its first container)', () => {
    const memory = new DiscoveryMemory();
    add('kubepods/burstable');
    expect(discoverContainers(root, undefined, memory).size).toBe(0);
    add(`kubepods/burstable/pod12345678-1234-1234-1234-123456789abc/${ID(5)}`);
    expect(asList(discoverContainers(root, undefined, memory))).toEqual([
      [ID(5), `/kubepods/burstable/pod12345678-1234-1234-1234-123456789abc/${ID(5)}`],
    ]);
  });
});

/**
 * On a Kubernetes node every pod is a directory: listing each of them on every poll cost more than reading
 * the containers' memory files. A listing is reused while the directory's stat is unchanged.
 */
describe('discovery with memory lists only what changed', () => {
  // The module object itself: `import * as fs` gives a namespace whose properties cannot be replaced, and
  // discovery reads its functions from the module at each call.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeFs = require('node:fs') as typeof fs;
  let root: string;
  const POD = 'kubepods/burstable/pod12345678-1234-1234-1234-123456789abc';
  const POD2 = 'kubepods/burstable/pod87654321-4321-4321-4321-cba987654321';
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-discover-listing-'));
    for (const rel of [`${POD}/${ID(1)}`, `${POD}/${ID(2)}`, `${POD2}/${ID(3)}`])
      fs.mkdirSync(path.join(root, rel), { recursive: true });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const listed = (): string[] => {
    const spy = jest.mocked(nodeFs.readdirSync);
    return spy.mock.calls.map((c) => path.relative(root, String(c[0])));
  };

  it('reads no directory on a walk of a tree that did not change, and only the changed one after a change', () => {
    const memory = new DiscoveryMemory();
    const first = asList(discoverContainers(root, undefined, memory));
    expect(first.map(([id]) => id)).toEqual([ID(1), ID(2), ID(3)]);

    jest.spyOn(nodeFs, 'readdirSync');
    expect(asList(discoverContainers(root, undefined, memory))).toEqual(first);
    expect(listed()).toEqual([]);

    fs.mkdirSync(path.join(root, POD2, ID(4)));
    expect([...discoverContainers(root, undefined, memory).keys()]).toEqual([ID(1), ID(2), ID(3), ID(4)]);
    expect(listed()).toEqual([POD2]);
  });

  it('parses no path of a stable tree twice, relisted or not, and every path again when the hints change', () => {
    // The module object itself, whose export discovery calls at each use (see nodeFs above).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const paths = require('../../src/cgroup/container-path') as typeof ContainerPaths;
    const memory = new DiscoveryMemory(0); // every walk lists every directory again
    const first = asList(discoverContainers(root, undefined, memory));
    const parse = jest.spyOn(paths, 'containerFromCgroupPath');
    expect(asList(discoverContainers(root, undefined, memory))).toEqual(first);
    expect(parse).not.toHaveBeenCalled();
    fs.mkdirSync(path.join(root, POD2, ID(4)));
    expect([...discoverContainers(root, undefined, memory).keys()]).toEqual([ID(1), ID(2), ID(3), ID(4)]);
    expect(parse.mock.calls.map((c) => c[0])).toEqual([`/${POD2}/${ID(4)}`]);
    parse.mockClear();
    const hints: CgroupHints = {
      containerdNamespaces: new Set(),
      hasContainerPaths: false,
      containerAt: () => undefined,
      version: 1,
    };
    expect([...discoverContainers(root, undefined, memory, hints).keys()]).toEqual([
      ID(1),
      ID(2),
      ID(3),
      ID(4),
    ]);
    expect(parse.mock.calls.length).toBeGreaterThanOrEqual(4);
  });

  it('lists every directory again after relistAfterMs', () => {
    const memory = new DiscoveryMemory(0);
    discoverContainers(root, undefined, memory);
    jest.spyOn(nodeFs, 'readdirSync');
    discoverContainers(root, undefined, memory);
    expect(listed().sort()).toEqual(['', 'kubepods', 'kubepods/burstable', POD, POD2].sort());
  });

  /**
   * cgroupfs does not move a directory's times when a sub-cgroup comes or goes, only its link count: a
   * container replaced by another in the same pod between two walks leaves the pod's stat as it was. Played
   * here by handing the walk the pod's stat from before the change.
   */
  describe('a container replaced in a pod whose stat does not show it (as on cgroupfs)', () => {
    const freezePodStat = (): void => {
      const podDir = path.join(root, POD);
      const before = fs.statSync(podDir);
      const real = fs.statSync;
      jest
        .spyOn(nodeFs, 'statSync')
        .mockImplementation(((p: fs.PathLike, o?: fs.StatSyncOptions) =>
          String(p) === podDir ? before : real(p, o)) as typeof fs.statSync);
    };

    it('is seen by the walk after the one that was told the old container vanished', () => {
      const memory = new DiscoveryMemory();
      discoverContainers(root, undefined, memory);
      freezePodStat();
      fs.rmdirSync(path.join(root, POD, ID(1)));
      fs.mkdirSync(path.join(root, POD, ID(5)));
      // The stale listing still names the old container: its read finds it gone, and says so.
      expect([...discoverContainers(root, undefined, memory).keys()]).toEqual([ID(1), ID(2), ID(3)]);
      expect(memory.hasChanges).toBe(false);
      memory.changed(`/${POD}/${ID(1)}`);
      expect(memory.hasChanges).toBe(true);
      expect([...discoverContainers(root, undefined, memory).keys()]).toEqual([ID(2), ID(5), ID(3)]);
      expect(memory.hasChanges).toBe(false);
    });

    it('is read by the poller in the poll that finds the old one gone', async () => {
      const table = new ContainerTable();
      const poller = new Poller({
        layout: { version: 1, mode: 'v1', root, memoryRoot: root } as CgroupLayout,
        table,
        // No kept descriptors: each read opens the files, so a removed cgroup fails to read as on cgroupfs
        // (where a kept descriptor of a removed cgroup says ENODEV).
        budget: new FdBudget(0),
        log: createLogger('silent'),
        report: new SelfMetrics({ processMetrics: false }),
        intervalMs: 3_600_000,
        seriesGraceMs: 600_000,
      });
      // Readable files for the containers (a regular tree: the reader reads what is there).
      const files = (rel: string): void => {
        for (const [f, v] of [
          ['memory.usage_in_bytes', '4096\n'],
          ['memory.limit_in_bytes', '9223372036854771712\n'],
          ['memory.stat', 'total_rss 0\ntotal_cache 0\ntotal_inactive_file 0\ntotal_mapped_file 0\n'],
          ['memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n'],
        ])
          fs.writeFileSync(path.join(root, rel, f as string), v as string);
      };
      for (const rel of [`${POD}/${ID(1)}`, `${POD}/${ID(2)}`, `${POD2}/${ID(3)}`]) files(rel);
      await poller.pollOnce();
      expect(table.get(ID(1))?.sample?.usage).toBe(4096);

      freezePodStat();
      fs.rmSync(path.join(root, POD, ID(1)), { recursive: true });
      fs.mkdirSync(path.join(root, POD, ID(5)));
      files(`${POD}/${ID(5)}`);
      await poller.pollOnce();
      expect(table.get(ID(1))?.present).toBe(false);
      expect(table.get(ID(5))?.sample?.usage).toBe(4096);
      await poller.stop();
    });
  });
});
