import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerFromCgroupPath } from '../../src/cgroup/container-path';
import { discoverContainers } from '../../src/cgroup/discover';
import { fixtureId, fixturePodUid } from '../helpers/fixture-ids';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * Discovery walks a real directory tree: the fixture trees (v1 copied from this machine's kernel, v2 in the
 * 6.1 formats), throwaway trees for the edge cases, and this machine's own /sys/fs/cgroup/memory.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');
const u = (uid: string): string => uid.replace(/-/g, '_');

describe('discoverContainers on the v1 fixture tree', () => {
  const found = discoverContainers(path.join(FIXTURES, 'v1', 'memory'));

  it('finds every container, in every layout, once, at its own cgroup', () => {
    const expected: Record<string, string> = {
      [fixtureId('frozen')]: `/docker/${fixtureId('frozen')}`,
      [fixtureId('cache')]: `/docker/${fixtureId('cache')}`,
      [fixtureId('oom')]: `/docker/${fixtureId('oom')}`,
      [fixtureId('web')]: `/docker/${fixtureId('web')}`,
      [fixtureId('batch')]: `/docker/${fixtureId('batch')}`,
      [fixtureId('k8s-app')]: `/kubepods/burstable/pod${fixturePodUid('burstable')}/${fixtureId('k8s-app')}`,
      [fixtureId('k8s-guaranteed')]:
        `/kubepods/pod${fixturePodUid('guaranteed')}/${fixtureId('k8s-guaranteed')}`,
      [fixtureId('k8s-besteffort')]:
        `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${u(fixturePodUid('besteffort'))}.slice/cri-containerd-${fixtureId('k8s-besteffort')}.scope`,
      [fixtureId('crio')]:
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u(fixturePodUid('crio'))}.slice/crio-${fixtureId('crio')}.scope`,
      [fixtureId('podman')]: `/machine.slice/libpod-${fixtureId('podman')}.scope`,
      [fixtureId('api')]: `/system.slice/docker-${fixtureId('api')}.scope`,
    };
    expect(Object.fromEntries([...found].map(([id, p]) => [id, p.cgroupPath]))).toEqual(expected);
  });

  it('lists them in the same order on every host (each directory by name, whatever readdir returns)', () => {
    const paths = [...found.values()].map((p) => p.cgroupPath);
    const bySegments = (a: string, b: string): number => {
      const [x, y] = [a.split('/'), b.split('/')];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        if (x[i] !== y[i]) return (x[i] as string) < (y[i] as string) ? -1 : 1;
      }
      return x.length - y.length;
    };
    expect(paths).toEqual([...paths].sort(bySegments));
  });

  it('gives each Kubernetes container its pod and QoS class', () => {
    expect(found.get(fixtureId('k8s-guaranteed'))).toMatchObject({
      podUid: fixturePodUid('guaranteed'),
      qos: 'guaranteed',
    });
    expect(found.get(fixtureId('crio'))).toMatchObject({
      runtime: 'cri-o',
      podUid: fixturePodUid('crio'),
      qos: 'burstable',
    });
  });
});

describe('discoverContainers on the v2 fixture tree', () => {
  const found = discoverContainers(path.join(FIXTURES, 'v2'));

  it('finds the rootless, Podman, CRI-O and cgroupfs-driver containers, and nothing else', () => {
    expect(new Set(found.keys())).toEqual(
      new Set(
        [
          'web',
          'batch',
          'oom',
          'api',
          'rootless',
          'rootless-podman',
          'podman',
          'v2-k8s-app',
          'v2-crio',
          'v2-besteffort',
        ].map(fixtureId),
      ),
    );
    expect(found.get(fixtureId('rootless'))?.cgroupPath).toBe(
      `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${fixtureId('rootless')}.scope`,
    );
    expect(found.get(fixtureId('podman'))?.cgroupPath).toBe(
      `/machine.slice/libpod-${fixtureId('podman')}.scope`,
    );
  });
});

describe('discoverContainers on throwaway trees', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-discover-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const mk = (rel: string): void => {
    fs.mkdirSync(path.join(root, rel), { recursive: true });
  };
  const A = 'a'.repeat(64);
  const B = 'b'.repeat(64);

  it('does not descend into a container: its sub-cgroups, even ones named like containers, are part of it', () => {
    mk(`docker/${A}/sub/deeper`);
    mk(`docker/${A}/docker/${B}`);
    expect([...discoverContainers(root).keys()]).toEqual([A]);
  });

  it('ignores files beside the cgroups', () => {
    mk('docker');
    fs.writeFileSync(path.join(root, 'docker', A), 'not a directory');
    fs.writeFileSync(path.join(root, 'memory.stat'), 'anon 0\n');
    expect(discoverContainers(root).size).toBe(0);
  });

  it('reaches the deepest layout in DESIGN.md (rootless Kubernetes, eight levels down)', () => {
    const deep = `user.slice/user-1001.slice/user@1001.service/u7s-rootlesskit.service/kubepods/burstable/pod${'c'.repeat(8)}-cccc-cccc-cccc-${'c'.repeat(12)}/${A}`;
    mk(deep);
    expect(discoverContainers(root).get(A)?.cgroupPath).toBe(`/${deep}`);
  });

  it('gives up below the depth limit rather than walking an unbounded tree', () => {
    mk(`1/2/3/4/5/6/7/8/docker/${A}`);
    expect(discoverContainers(root).size).toBe(0);
  });

  it('returns nothing for a root that does not exist (the caller reports it)', () => {
    expect(discoverContainers(path.join(root, 'missing')).size).toBe(0);
  });

  it('skips a directory it cannot read and carries on with the others', () => {
    mk(`docker/${A}`);
    mk('system.slice');
    // a file where a directory was: readdir fails with ENOTDIR, like a cgroup removed mid-walk
    fs.rmSync(path.join(root, 'system.slice'), { recursive: true });
    fs.writeFileSync(path.join(root, 'system.slice'), '');
    expect([...discoverContainers(root).keys()]).toEqual([A]);
  });
});

describe("discoverContainers on this machine's memory cgroups", () => {
  const root = '/sys/fs/cgroup/memory';
  const run = fs.existsSync(path.join(root, 'memory.usage_in_bytes')) ? it : it.skip;

  run('never reports one of the service cgroups under process_api, and agrees with the path mapping', () => {
    const found = discoverContainers(root);
    for (const p of found.values()) {
      expect(p.cgroupPath.startsWith('/process_api/')).toBe(false);
      expect(containerFromCgroupPath(p.cgroupPath)).toEqual(p);
    }
  });
});
