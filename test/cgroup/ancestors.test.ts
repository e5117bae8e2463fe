import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ancestorLimit } from '../../src/cgroup/ancestors';
import type { CgroupLayout } from '../../src/cgroup/layout';

const MiB = 1024 * 1024;
const V1_UNLIMITED = '9223372036854771712';

/** A tree of cgroup directories under a temporary root, with the limit file of each given. */
function tree(file: string, limits: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-ancestors-'));
  for (const [dir, limit] of Object.entries(limits)) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    if (limit !== '') fs.writeFileSync(path.join(root, dir, file), `${limit}\n`);
  }
  return root;
}

describe('the tightest limit among the ancestors of a container cgroup', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  it('v1: a pod limit binds a container without its own; unlimited ancestors and the container itself do not count', () => {
    const root = tree('memory.limit_in_bytes', {
      kubepods: V1_UNLIMITED,
      'kubepods/burstable': V1_UNLIMITED,
      'kubepods/burstable/pod1': String(512 * MiB),
      'kubepods/burstable/pod1/c1': String(64 * MiB),
    });
    roots.push(root);
    const layout: CgroupLayout = { mode: 'v1', root, memoryRoot: root, version: 1 };
    expect(ancestorLimit(layout, '/kubepods/burstable/pod1/c1')).toEqual({
      bytes: 512 * MiB,
      cgroup: '/kubepods/burstable/pod1',
    });
  });

  it('v2: memory.max "max" limits nothing; the smallest of several limits wins', () => {
    const root = tree('memory.max', {
      'machine.slice': String(1024 * MiB),
      'machine.slice/inner.slice': String(256 * MiB),
      'machine.slice/inner.slice/mid.slice': 'max',
      'machine.slice/inner.slice/mid.slice/libpod-1.scope': 'max',
    });
    roots.push(root);
    const layout: CgroupLayout = { mode: 'v2', root, memoryRoot: root, pressureRoot: root, version: 2 };
    expect(ancestorLimit(layout, '/machine.slice/inner.slice/mid.slice/libpod-1.scope')).toEqual({
      bytes: 256 * MiB,
      cgroup: '/machine.slice/inner.slice',
    });
  });

  it('is undefined when no ancestor has a limit, or its limit cannot be read', () => {
    const root = tree('memory.max', {
      'system.slice': 'max',
      'system.slice/docker-1.scope': '',
      odd: 'lots',
    });
    roots.push(root);
    const layout: CgroupLayout = { mode: 'v2', root, memoryRoot: root, pressureRoot: root, version: 2 };
    expect(ancestorLimit(layout, '/system.slice/docker-1.scope')).toBeUndefined();
    expect(ancestorLimit(layout, '/odd/c')).toBeUndefined();
    expect(ancestorLimit(layout, '/docker-1.scope')).toBeUndefined();
  });
});
