import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupLayoutError, detectLayout } from '../../src/cgroup/layout';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');

describe('detectLayout', () => {
  it.each([
    ['v1', { mode: 'v1', memoryRoot: path.join(FIXTURES, 'v1', 'memory'), version: 1 }],
    [
      'v2',
      {
        mode: 'v2',
        memoryRoot: path.join(FIXTURES, 'v2'),
        pressureRoot: path.join(FIXTURES, 'v2'),
        version: 2,
      },
    ],
    [
      'hybrid',
      {
        mode: 'hybrid',
        memoryRoot: path.join(FIXTURES, 'hybrid', 'memory'),
        pressureRoot: path.join(FIXTURES, 'hybrid', 'unified'),
        version: 1,
      },
    ],
  ])('recognises the %s fixture tree', (mode, expected) => {
    expect(detectLayout(path.join(FIXTURES, mode))).toEqual({ root: path.join(FIXTURES, mode), ...expected });
  });

  it("recognises this machine's hybrid tree", () => {
    if (!fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) return;
    expect(detectLayout('/sys/fs/cgroup').mode).toBe('hybrid');
  });

  describe('names the problem and the fix when there is no memory controller', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-layout-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it.each([
      [
        'a root that does not exist',
        (d: string) => path.join(d, 'nope'),
        /does not exist: mount the host's \/sys\/fs\/cgroup there .* or pass --cgroup-root/,
      ],
      [
        'a file instead of a directory',
        (d: string) => {
          fs.writeFileSync(path.join(d, 'file'), '');
          return path.join(d, 'file');
        },
        /is not a directory: pass --cgroup-root DIR/,
      ],
      [
        'an empty directory',
        (d: string) => d,
        /holds no memory controller .*: mount the host's \/sys\/fs\/cgroup there or pass --cgroup-root/,
      ],
      [
        "a container's own v2 cgroup (memory not delegated to it)",
        (d: string) => {
          fs.writeFileSync(path.join(d, 'cgroup.controllers'), 'cpu io pids\n');
          return d;
        },
        /a cgroup v2 tree without the memory controller \(cgroup.controllers: "cpu io pids"\): point --cgroup-root at the host's \/sys\/fs\/cgroup/,
      ],
    ])('%s', (_what, make, message) => {
      const root = make(dir);
      expect(() => detectLayout(root)).toThrow(CgroupLayoutError);
      expect(() => detectLayout(root)).toThrow(message);
    });
  });
});
