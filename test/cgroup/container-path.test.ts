import * as fs from 'node:fs';
import {
  type ContainerPath,
  containerFromCgroupPath,
  mayHoldContainers,
  shortId,
} from '../../src/cgroup/container-path';

/**
 * Where each runtime puts a container's cgroup (paths relative to the memory controller's root), and the
 * cgroups that are not containers. Sources for each layout:
 *  - Docker: moby daemon/oci_linux.go (cgroupfs parent "/docker", systemd "system.slice:docker:<id>" giving
 *    system.slice/docker-<id>.scope); rootless with systemd: user@UID.service/user.slice/docker-<id>.scope
 *    (docker/docs issue 14545: /sys/fs/cgroup/user.slice/user-<uid>.slice/user@<uid>.service/user.slice/
 *    docker-<longid>.scope/).
 *  - Podman: machine.slice/libpod-<id>.scope with conmon in libpod-conmon-<id>.scope; rootless in the user's
 *    user.slice; cgroupfs manager /libpod_parent/libpod-<id>; --systemd=always adds a "container" sub-cgroup.
 *  - Kubernetes: kubelet pkg/kubelet/cm/cgroup_manager_linux.go (systemd driver: kubepods.slice/
 *    kubepods-<qos>.slice/kubepods-<qos>-pod<uid with _>.slice; Guaranteed pods directly under
 *    kubepods.slice; cgroupfs driver: kubepods/<qos>/pod<uid>); containerd's cri-containerd-<id>.scope and
 *    CRI-O's crio-<id>.scope (conmon in crio-conmon-<id>.scope), bare ids with the cgroupfs driver.
 */
const ID = 'd0c59ec4c4a136ab45b93b756f39ed1b3988e08a95e0461e64b17c29d21eefc1';
const UID = '800594ab-4bb6-8d37-2568-bf3c32cd61d4';
const UID_ = UID.replace(/-/g, '_');

type Expected = Omit<ContainerPath, 'id'> & { id?: string };

describe('containerFromCgroupPath: containers', () => {
  it.each<[string, string, Expected]>([
    [
      'Docker, cgroupfs driver (v1 and v2)',
      `/docker/${ID}`,
      { runtime: 'docker', cgroupPath: `/docker/${ID}` },
    ],
    [
      'Docker, systemd driver',
      `/system.slice/docker-${ID}.scope`,
      { runtime: 'docker', cgroupPath: `/system.slice/docker-${ID}.scope` },
    ],
    [
      'rootless Docker (systemd in the user session)',
      `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope`,
      {
        runtime: 'docker',
        cgroupPath: `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope`,
      },
    ],
    [
      'Podman, systemd',
      `/machine.slice/libpod-${ID}.scope`,
      { runtime: 'podman', cgroupPath: `/machine.slice/libpod-${ID}.scope` },
    ],
    [
      'rootless Podman',
      `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`,
      {
        runtime: 'podman',
        cgroupPath: `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`,
      },
    ],
    [
      'Podman, cgroupfs manager',
      `/libpod_parent/libpod-${ID}`,
      { runtime: 'podman', cgroupPath: `/libpod_parent/libpod-${ID}` },
    ],
    [
      'Kubernetes systemd driver, containerd, Burstable',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      {
        runtime: 'containerd',
        cgroupPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
        podUid: UID,
        qos: 'burstable',
      },
    ],
    [
      'Kubernetes systemd driver, containerd, BestEffort',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      {
        runtime: 'containerd',
        cgroupPath: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
        podUid: UID,
        qos: 'besteffort',
      },
    ],
    [
      'Kubernetes systemd driver, Guaranteed pod directly under kubepods.slice',
      `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      {
        runtime: 'containerd',
        cgroupPath: `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
        podUid: UID,
        qos: 'guaranteed',
      },
    ],
    [
      'Kubernetes systemd driver, CRI-O',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
      {
        runtime: 'cri-o',
        cgroupPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
        podUid: UID,
        qos: 'burstable',
      },
    ],
    [
      'Kubernetes systemd driver, dockershim',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/docker-${ID}.scope`,
      {
        runtime: 'docker',
        cgroupPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/docker-${ID}.scope`,
        podUid: UID,
        qos: 'burstable',
      },
    ],
    [
      'Kubernetes cgroupfs driver, Burstable',
      `/kubepods/burstable/pod${UID}/${ID}`,
      {
        runtime: 'containerd',
        cgroupPath: `/kubepods/burstable/pod${UID}/${ID}`,
        podUid: UID,
        qos: 'burstable',
      },
    ],
    [
      'Kubernetes cgroupfs driver, Guaranteed pod directly under kubepods',
      `/kubepods/pod${UID}/${ID}`,
      { runtime: 'containerd', cgroupPath: `/kubepods/pod${UID}/${ID}`, podUid: UID, qos: 'guaranteed' },
    ],
    [
      'Kubernetes cgroupfs driver, CRI-O',
      `/kubepods/besteffort/pod${UID}/crio-${ID}`,
      {
        runtime: 'cri-o',
        cgroupPath: `/kubepods/besteffort/pod${UID}/crio-${ID}`,
        podUid: UID,
        qos: 'besteffort',
      },
    ],
    [
      'a sub-cgroup a process made inside a Docker container',
      `/docker/${ID}/sub/deeper`,
      { runtime: 'docker', cgroupPath: `/docker/${ID}` },
    ],
    [
      'Podman --systemd=always: the "container" sub-cgroup of the scope',
      `/machine.slice/libpod-${ID}.scope/container`,
      { runtime: 'podman', cgroupPath: `/machine.slice/libpod-${ID}.scope` },
    ],
    [
      'a sub-cgroup inside a Kubernetes container',
      `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope/init`,
      {
        runtime: 'containerd',
        cgroupPath: `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
        podUid: UID,
        qos: 'guaranteed',
      },
    ],
    [
      'a Docker container inside a Docker container (the outer one owns it)',
      `/docker/${ID}/docker/${'a'.repeat(64)}`,
      { runtime: 'docker', cgroupPath: `/docker/${ID}` },
    ],
    [
      'a path as the kernel log prints it (no leading slash is needed)',
      `docker/${ID}`,
      { runtime: 'docker', cgroupPath: `/docker/${ID}` },
    ],
  ])('%s', (_layout, path, expected) => {
    expect(containerFromCgroupPath(path)).toEqual({ id: ID, ...expected });
  });
});

describe('containerFromCgroupPath: not containers', () => {
  it.each([
    ['the root', '/'],
    ["Docker's parent cgroup", '/docker'],
    ['the Docker daemon', '/system.slice/docker.service'],
    ['containerd', '/system.slice/containerd.service'],
    ['systemd itself', '/init.scope'],
    ['a user session', '/user.slice/user-1000.slice/session-3.scope'],
    ['the user manager', '/user.slice/user-1000.slice/user@1000.service'],
    ['the Podman conmon scope', `/machine.slice/libpod-conmon-${ID}.scope`],
    [
      'the rootless Podman conmon scope',
      `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-${ID}.scope`,
    ],
    [
      'the CRI-O conmon scope',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    ],
    ['the kubepods slice', '/kubepods.slice'],
    ['a QoS slice', '/kubepods.slice/kubepods-burstable.slice'],
    [
      'a pod slice (systemd driver)',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`,
    ],
    ['a Guaranteed pod slice', `/kubepods.slice/kubepods-pod${UID_}.slice`],
    ['a pod cgroup (cgroupfs driver)', `/kubepods/burstable/pod${UID}`],
    ['a QoS cgroup (cgroupfs driver)', '/kubepods/besteffort'],
    ['a 64-hex directory outside any runtime parent', `/custom/${ID}`],
    ['an id one character short', `/docker/${ID.slice(1)}`],
    ['an id in capitals', `/docker/${ID.toUpperCase()}`],
    ['a scope with a 32-hex id', `/system.slice/docker-${ID.slice(0, 32)}.scope`],
    // This machine's own service cgroups: /sys/fs/cgroup/memory/process_api/<32 hex>
    ["this machine's process_api cgroups", '/process_api/84e14fdb26328bd35118d6fa89295ac1'],
  ])('%s', (_what, path) => {
    expect(containerFromCgroupPath(path)).toBeNull();
  });

  it("holds for every cgroup under this machine's process_api tree", () => {
    const root = '/sys/fs/cgroup/memory/process_api';
    const names = fs.existsSync(root)
      ? fs.readdirSync(root).filter((n) => fs.statSync(`${root}/${n}`).isDirectory())
      : [];
    for (const n of names) expect(containerFromCgroupPath(`/process_api/${n}`)).toBeNull();
  });
});

describe('pod UIDs', () => {
  it.each([
    ['dashed (cgroupfs driver)', `/kubepods/pod${UID}/${ID}`],
    ['underscored (systemd driver)', `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`],
  ])('come out in the dashed form the API shows when %s', (_form, path) => {
    expect(containerFromCgroupPath(path)?.podUid).toBe(UID);
  });

  it("keep a static pod's 32-hex config hash as the kubelet writes it", () => {
    const hash = UID.replace(/-/g, '');
    expect(containerFromCgroupPath(`/kubepods/pod${hash}/${ID}`)?.podUid).toBe(hash);
  });
});

describe('mayHoldContainers', () => {
  it.each([
    ['system.slice', true],
    ['kubepods-burstable.slice', true],
    ['user@1000.service', true],
    [`libpod-conmon-${ID}.scope`, false],
    [`crio-conmon-${ID}.scope`, false],
  ])('%s: %s', (name, expected) => {
    expect(mayHoldContainers(name)).toBe(expected);
  });
});

it('shortId is the 12 characters docker ps shows', () => {
  expect(shortId(ID)).toBe('d0c59ec4c4a1');
});
