import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { containerFromCgroupPath, shortId } from '../../src/cgroup/container-path';
import { discoverContainers } from '../../src/cgroup/discover';
import { detectLayout } from '../../src/cgroup/layout';
import { FdBudget } from '../../src/cgroup/reader';
import { silentLogger } from '../../src/log';
import { MetricsRenderer } from '../../src/metrics/render';
import { SelfMetrics } from '../../src/metrics/self';
import { Poller } from '../../src/sources/cgroup-poller';
import { ContainerTable } from '../../src/state/containers';
import { FIXTURES } from '../helpers/paths';
import { parseExposition, valueOf } from '../helpers/prom';

/**
 * Podman's cgroup layouts: the cgroupfs manager's `libpod_parent/libpod-<id>` and, in a pod,
 * `libpod_parent/<pod id>/libpod-<id>` (where this machine's rootful Podman 4.3.1 puts them, no systemd here),
 * with conmon in `libpod_parent/conmon` and `libpod_parent/<pod id>/conmon`; the systemd manager's
 * `machine.slice/libpod-<id>.scope` beside `libpod-conmon-<id>.scope`; and rootless Podman on cgroup v2 with
 * systemd, `user.slice/user-<uid>.slice/user@<uid>.service/user.slice/libpod-<id>.scope` (crun may run the
 * container in its `container` sub-cgroup). Rootless Podman on cgroup v1 creates no cgroup: nothing to
 * discover. The trees are test/fixtures/cgroup/podman-v1 (copied from this machine's kernel) and podman-v2 (the
 * files of the Linux 6.1 capture), both written by test/helpers/capture-podman-trees.sh.
 */

/** The ids of the trees, derived from a name as capture-podman-trees.sh derives them. */
const id = (name: string): string =>
  createHash('sha256').update(`oomwatch-podman-fixture-${name}`).digest('hex');
const POD = id('pod');
const WEB = id('web');
const IN_POD = id('in-pod');
const INFRA = id('infra');
const SYSTEMD = id('systemd');
const ROOTLESS = id('rootless');
const ROOTLESS_CRUN = id('rootless-crun');
const USER_SLICE = '/user.slice/user-1000.slice/user@1000.service/user.slice';

describe('containerFromCgroupPath on Podman layouts', () => {
  it.each<[string, string, string, string]>([
    ['cgroupfs manager', `/libpod_parent/libpod-${WEB}`, WEB, `/libpod_parent/libpod-${WEB}`],
    [
      'a container of a pod',
      `/libpod_parent/${POD}/libpod-${IN_POD}`,
      IN_POD,
      `/libpod_parent/${POD}/libpod-${IN_POD}`,
    ],
    [
      'a sub-cgroup a process made in it',
      `/libpod_parent/libpod-${WEB}/sub`,
      WEB,
      `/libpod_parent/libpod-${WEB}`,
    ],
    [
      'systemd manager',
      `/machine.slice/libpod-${SYSTEMD}.scope`,
      SYSTEMD,
      `/machine.slice/libpod-${SYSTEMD}.scope`,
    ],
    [
      'rootless, cgroup v2 and systemd',
      `${USER_SLICE}/libpod-${ROOTLESS}.scope`,
      ROOTLESS,
      `${USER_SLICE}/libpod-${ROOTLESS}.scope`,
    ],
    [
      "rootless, crun's container sub-cgroup",
      `${USER_SLICE}/libpod-${ROOTLESS_CRUN}.scope/container`,
      ROOTLESS_CRUN,
      `${USER_SLICE}/libpod-${ROOTLESS_CRUN}.scope`,
    ],
  ])('%s', (_layout, p, want, cgroupPath) => {
    expect(containerFromCgroupPath(p)).toEqual({ id: want, runtime: 'podman', cgroupPath });
  });

  it.each([
    ['the cgroupfs parent', '/libpod_parent'],
    ["conmon's cgroup", '/libpod_parent/conmon'],
    ['a pod (its 64-hex id is not a container)', `/libpod_parent/${POD}`],
    ["a pod's conmon", `/libpod_parent/${POD}/conmon`],
    ['a conmon scope', `/machine.slice/libpod-conmon-${SYSTEMD}.scope`],
    ['a rootless conmon scope', `${USER_SLICE}/libpod-conmon-${ROOTLESS}.scope`],
  ])('not a container: %s', (_what, p) => {
    expect(containerFromCgroupPath(p)).toBeNull();
  });
});

describe.each([
  ['v1 (copied from the real kernel)', path.join(FIXTURES, 'cgroup', 'podman-v1'), 'memory', false],
  ['v2 (Linux 6.1 files)', path.join(FIXTURES, 'cgroup', 'podman-v2'), '', true],
])('discovery on the Podman tree, %s', (_tree, root, memoryDir, v2) => {
  const want: Record<string, string> = {
    [WEB]: `/libpod_parent/libpod-${WEB}`,
    [IN_POD]: `/libpod_parent/${POD}/libpod-${IN_POD}`,
    // Without Podman's API the infra container is a container like the others (the Podman source marks it).
    [INFRA]: `/libpod_parent/${POD}/libpod-${INFRA}`,
    [SYSTEMD]: `/machine.slice/libpod-${SYSTEMD}.scope`,
    ...(v2
      ? {
          [ROOTLESS]: `${USER_SLICE}/libpod-${ROOTLESS}.scope`,
          [ROOTLESS_CRUN]: `${USER_SLICE}/libpod-${ROOTLESS_CRUN}.scope`,
        }
      : {}),
  };

  it('finds every Podman container and nothing else (no conmon, no pod, no slice)', () => {
    const found = discoverContainers(path.join(root, memoryDir));
    expect(Object.fromEntries([...found].map(([k, p]) => [k, p.cgroupPath]))).toEqual(want);
    expect(new Set([...found.values()].map((p) => p.runtime))).toEqual(new Set(['podman']));
  });

  it('polls each of them, with runtime="podman" on oomwatch_container_info and its memory', async () => {
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
    });
    await poller.pollOnce();
    const s = parseExposition(await new MetricsRenderer(table, self).render('prometheus'));
    for (const c of Object.keys(want)) {
      expect(valueOf(s, 'oomwatch_container_info', { id: shortId(c), runtime: 'podman' })).toBe(1);
      expect(valueOf(s, 'oomwatch_container_memory_usage_bytes', { id: shortId(c) })).toBeGreaterThan(0);
    }
    expect(table.counts().present).toBe(Object.keys(want).length);
    await poller.stop();
  });
});
