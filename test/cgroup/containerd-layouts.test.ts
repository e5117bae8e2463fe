import * as path from 'node:path';
import { containerFromCgroupPath, shortId } from '../../src/cgroup/container-path';
import { DiscoveryMemory, discoverContainers } from '../../src/cgroup/discover';
import { DELETED_KEEP_MS, RuntimeCgroupHints, cgroupOfOciPath } from '../../src/cgroup/hints';
import { detectLayout } from '../../src/cgroup/layout';
import { FdBudget } from '../../src/cgroup/reader';
import { silentLogger } from '../../src/log';
import { MetricsRenderer } from '../../src/metrics/render';
import { SelfMetrics } from '../../src/metrics/self';
import { Poller } from '../../src/sources/cgroup-poller';
import { ContainerTable } from '../../src/state/containers';
import { containerdFixtureId } from '../helpers/fixture-ids';
import { FIXTURES } from '../helpers/paths';
import { parseExposition, valueOf } from '../helpers/prom';

/**
 * containerd's cgroup layouts: cgroupfs `/<namespace>/<id>` (containerd's default, what nerdctl and ctr get on
 * a host without systemd: seen on this machine as /default/<id> for `ctr run`), nerdctl's systemd scope
 * `nerdctl-<id>.scope` (nerdctl pkg/cmd/container: cgroupsPath `system.slice:nerdctl:<id>`), and the ids ctr
 * lets users choose, found through the spec's cgroupsPath the containerd source reports. The trees are
 * test/fixtures/cgroup/containerd-v1 (copied from this machine's kernel) and containerd-v2 (the files of the
 * Linux 6.1 capture), both written by test/helpers/capture-containerd-trees.sh.
 */
const NERDCTL = containerdFixtureId('nerdctl');
const K8S_NS = containerdFixtureId('k8s-ns');
const OTHER_NS = containerdFixtureId('other-ns');
const SYSTEMD = containerdFixtureId('nerdctl-systemd');
const ROOTLESS = containerdFixtureId('rootless');
const ROOTLESS_PATH = `/user.slice/user-1000.slice/user@1000.service/user.slice/nerdctl-${ROOTLESS}.scope`;

/** What the containerd source tells after listing: its namespaces, and the cgroups of non-hex ids' specs. */
function sourceHints(): RuntimeCgroupHints {
  const hints = new RuntimeCgroupHints();
  hints.setContainerdNamespaces(['default', 'k8s.io']);
  hints.setContainer('web', 'containerd', ['/default/web']);
  hints.setContainer('nightly', 'containerd', [cgroupOfOciPath('/custom/jobs/nightly') as string]);
  return hints;
}

describe('containerFromCgroupPath on containerd layouts', () => {
  it.each<[string, string, string, string]>([
    ['cgroupfs, namespace default (nerdctl, ctr)', `/default/${NERDCTL}`, NERDCTL, `/default/${NERDCTL}`],
    ['a sub-cgroup a process made in it', `/default/${NERDCTL}/sub`, NERDCTL, `/default/${NERDCTL}`],
    [
      'nerdctl, systemd driver',
      `/system.slice/nerdctl-${SYSTEMD}.scope`,
      SYSTEMD,
      `/system.slice/nerdctl-${SYSTEMD}.scope`,
    ],
    ['rootless nerdctl, systemd in the user session', ROOTLESS_PATH, ROOTLESS, ROOTLESS_PATH],
  ])('%s: always, without the source', (_layout, p, id, cgroupPath) => {
    expect(containerFromCgroupPath(p)).toEqual({ id, runtime: 'containerd', cgroupPath });
    expect(containerFromCgroupPath(p, sourceHints())).toEqual({ id, runtime: 'containerd', cgroupPath });
  });

  it.each<[string, string, string, string]>([
    ['a namespace the source reports', `/k8s.io/${K8S_NS}`, K8S_NS, `/k8s.io/${K8S_NS}`],
    ["an id ctr's user chose, from the spec's cgroupsPath", '/default/web', 'web', '/default/web'],
    ['a process below it', '/default/web/worker', 'web', '/default/web'],
    ['a --cgroup of the user, from the spec', '/custom/jobs/nightly', 'nightly', '/custom/jobs/nightly'],
  ])('%s: with the source only', (_layout, p, id, cgroupPath) => {
    expect(containerFromCgroupPath(p)).toBeNull();
    expect(containerFromCgroupPath(p, sourceHints())).toEqual({ id, runtime: 'containerd', cgroupPath });
  });

  it.each([
    ['a namespace the source does not report', `/other/${OTHER_NS}`],
    ['the namespace directory itself (runc leaves it behind)', '/default'],
    ['containerd itself', '/system.slice/containerd.service'],
    ['a 64-hex id two levels below a namespace', `/default/jobs/${NERDCTL}`],
    ['an id that no spec named', '/default/unknown'],
  ])('not a container: %s', (_what, p) => {
    expect(containerFromCgroupPath(p, sourceHints())).toBeNull();
  });

  it("keeps Docker's and Kubernetes' meaning of their own layouts whatever the namespaces", () => {
    const hints = new RuntimeCgroupHints();
    hints.setContainerdNamespaces(['docker', 'kubepods']);
    expect(containerFromCgroupPath(`/docker/${NERDCTL}`, hints)?.runtime).toBe('docker');
    expect(containerFromCgroupPath(`/kubepods/besteffort/${NERDCTL}`, hints)).toBeNull();
  });

  it('gives an id ctr chose whole in the id label (cut to 12 characters, two ids could be one series)', () => {
    expect(shortId(NERDCTL)).toBe(NERDCTL.slice(0, 12));
    expect(shortId('web-frontend-1')).toBe('web-frontend-1');
    expect(shortId('web-frontend-2')).not.toBe(shortId('web-frontend-1'));
  });
});

describe('cgroupOfOciPath: the cgroup a spec names, as runc resolves linux.cgroupsPath', () => {
  it.each<[string, string | undefined]>([
    ['/default/web', '/default/web'],
    ['/kubepods/burstable/pod1234/abc', '/kubepods/burstable/pod1234/abc'],
    ['//default/./web/', '/default/web'],
    [`system.slice:nerdctl:${SYSTEMD}`, `/system.slice/nerdctl-${SYSTEMD}.scope`],
    [
      'kubepods-burstable-pod12_34.slice:cri-containerd:abc',
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/cri-containerd-abc.scope',
    ],
    ['user-1000.slice:nerdctl:abc', '/user.slice/user-1000.slice/nerdctl-abc.scope'],
    [':nerdctl:abc', '/system.slice/nerdctl-abc.scope'],
    ['-.slice:x:abc', '/x-abc.scope'],
    ['machine.slice::abc', '/machine.slice/abc.scope'],
    ['system.slice:x:child.slice', '/system.slice/child.slice'],
    ['default/web', undefined],
    ['/default/../etc', undefined],
    ['/', undefined],
    ['system.slice:nerdctl', undefined],
    ['system:nerdctl:abc', undefined],
    ['a--b.slice:x:abc', undefined],
    ['system.slice:x:a/b', undefined],
  ])('%s -> %s', (cgroupsPath, expected) => {
    expect(cgroupOfOciPath(cgroupsPath)).toBe(expected);
  });
});

describe('RuntimeCgroupHints', () => {
  it('changes its version only when an answer changes, and forgets a removed container', () => {
    const hints = new RuntimeCgroupHints();
    const v0 = hints.version;
    hints.setContainerdNamespaces(['default']);
    const v1 = hints.version;
    hints.setContainerdNamespaces(['default']);
    hints.setContainer('web', 'containerd', ['/default/web']);
    const v2 = hints.version;
    hints.setContainer('web', 'containerd', ['/default/web']);
    expect([v1 > v0, v2 > v1, hints.version]).toEqual([true, true, v2]);
    expect(hints.containerAt('/default/web')).toEqual({ id: 'web', runtime: 'containerd' });
    hints.setContainer('web', 'containerd', ['/system.slice/x-web.scope']);
    expect(hints.containerAt('/default/web')).toBeUndefined();
    hints.removeContainer('web');
    expect([hints.containerAt('/system.slice/x-web.scope'), hints.hasContainerPaths]).toEqual([
      undefined,
      false,
    ]);
    expect(hints.version).toBeGreaterThan(v2);
  });

  it("keeps naming a deleted container's cgroup for a while: the OOM record of `ctr run --rm` is read after the delete", () => {
    let now = 1_000_000;
    const hints = new RuntimeCgroupHints(() => now);
    hints.setContainer('job', 'containerd', ['/default/job']);
    hints.containerDeleted('job');
    expect([...hints.containerIds()]).toEqual([]);
    expect(hints.hasContainerPaths).toBe(true);
    now += DELETED_KEEP_MS - 1;
    expect(hints.containerAt('/default/job')).toEqual({ id: 'job', runtime: 'containerd' });
    now += 1;
    expect([hints.containerAt('/default/job'), hints.hasContainerPaths]).toEqual([undefined, false]);
  });

  it('lets a new container take over the path a deleted one left (ctr run --rm again, same id)', () => {
    const hints = new RuntimeCgroupHints(() => 0);
    hints.setContainer('job', 'containerd', ['/default/job']);
    hints.containerDeleted('job');
    hints.setContainer('job2', 'containerd', ['/default/job']);
    hints.removeContainer('job2');
    expect(hints.containerAt('/default/job')).toBeUndefined();
  });

  it('remembers at most 4096 deleted containers, forgetting the oldest first', () => {
    const hints = new RuntimeCgroupHints(() => 0);
    for (let i = 0; i < 4100; i++) {
      hints.setContainer(`c${i}`, 'containerd', [`/default/c${i}`]);
      hints.containerDeleted(`c${i}`);
    }
    expect(hints.containerAt('/default/c3')).toBeUndefined();
    expect(hints.containerAt('/default/c4')).toEqual({ id: 'c4', runtime: 'containerd' });
    expect(hints.containerAt('/default/c4099')).toEqual({ id: 'c4099', runtime: 'containerd' });
  });
});

describe.each([
  ['v1 (copied from the real kernel)', path.join(FIXTURES, 'cgroup', 'containerd-v1'), 'memory'],
  ['v2 (Linux 6.1 files)', path.join(FIXTURES, 'cgroup', 'containerd-v2'), ''],
])('discovery on the containerd tree, %s', (_tree, root, memoryDir) => {
  const memoryRoot = path.join(root, memoryDir);
  const always = {
    [NERDCTL]: `/default/${NERDCTL}`,
    [SYSTEMD]: `/system.slice/nerdctl-${SYSTEMD}.scope`,
    [ROOTLESS]: ROOTLESS_PATH,
  };

  it('finds the layouts a path alone tells, without the source', () => {
    const found = discoverContainers(memoryRoot);
    expect(Object.fromEntries([...found].map(([id, p]) => [id, p.cgroupPath]))).toEqual(always);
    expect(new Set([...found.values()].map((p) => p.runtime))).toEqual(new Set(['containerd']));
  });

  it("finds the source's namespaces and the containers whose spec names their cgroup, and nothing else", () => {
    const found = discoverContainers(memoryRoot, undefined, undefined, sourceHints());
    expect(Object.fromEntries([...found].map(([id, p]) => [id, p.cgroupPath]))).toEqual({
      ...always,
      [K8S_NS]: `/k8s.io/${K8S_NS}`,
      web: '/default/web',
      nightly: '/custom/jobs/nightly',
    });
  });

  it('classifies again when the hints change (a walk remembers what each directory was)', () => {
    const hints = new RuntimeCgroupHints();
    const memory = new DiscoveryMemory();
    expect(discoverContainers(memoryRoot, undefined, memory, hints).has('web')).toBe(false);
    hints.setContainer('web', 'containerd', ['/default/web']);
    expect(discoverContainers(memoryRoot, undefined, memory, hints).has('web')).toBe(true);
    hints.removeContainer('web');
    expect(discoverContainers(memoryRoot, undefined, memory, hints).has('web')).toBe(false);
  });

  it('polls every container found, with runtime="containerd" on oomwatch_container_info', async () => {
    const table = new ContainerTable();
    const self = new SelfMetrics({ processMetrics: false });
    const poller = new Poller({
      layout: detectLayout(root),
      table,
      budget: new FdBudget(1024),
      log: silentLogger(),
      report: self,
      intervalMs: 3_600_000,
      seriesGraceMs: 600_000,
      hints: sourceHints(),
    });
    await poller.pollOnce();
    const s = parseExposition(await new MetricsRenderer(table, self).render('prometheus'));
    for (const id of [NERDCTL, SYSTEMD, ROOTLESS, K8S_NS, 'web', 'nightly']) {
      expect(valueOf(s, 'oomwatch_container_info', { id: shortId(id), runtime: 'containerd' })).toBe(1);
      expect(valueOf(s, 'oomwatch_container_memory_usage_bytes', { id: shortId(id) })).toBeGreaterThan(0);
    }
    expect(valueOf(s, 'oomwatch_container_info', { id: shortId(OTHER_NS) })).toBeUndefined();
    await poller.stop();
  });
});
