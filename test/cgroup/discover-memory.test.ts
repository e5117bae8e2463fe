import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiscoveryMemory, discoverContainers } from '../../src/cgroup/discover';
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
