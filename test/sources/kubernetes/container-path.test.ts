import {
  type ContainerPath,
  containerFromCgroupPath,
  mayHoldContainers,
} from '../../../src/cgroup/container-path';

/**
 * Pod and container attribution from a cgroup path alone, for every layout the kubelet makes: the
 * cgroupfs and systemd cgroup drivers, containerd, CRI-O and cri-dockerd, the three QoS classes, and a
 * kubelet --cgroup-root. The layouts are the kubelet's (pkg/kubelet/cm/cgroup_manager_linux.go: the systemd
 * driver turns /kubepods/burstable/pod<uid> into kubepods.slice/kubepods-burstable.slice/
 * kubepods-burstable-pod<uid with _ for ->.slice) and the runtimes' own scope names (containerd's
 * "cri-containerd" systemd prefix, CRI-O's "crio" and "crio-conmon" scopes).
 */

const ID = '4d3c2b1a'.repeat(8);
const ID2 = 'a1b2c3d4e5f6'.repeat(5) + 'a1b2';
const UID = '0f7e3c2a-9d1b-4c5e-8f6a-7b8c9d0e1f2a';
const UID_ = UID.replace(/-/g, '_');
// A static pod's UID: the kubelet's config hash (md5, 32 hex) instead of a UUID.
const STATIC_UID = '5b1f3e0c9a8d7e6f5a4b3c2d1e0f9a8b';

type Case = [string, string, Omit<ContainerPath, 'cgroupPath'> & { cgroupPath?: string }];

const pods: Case[] = [
  // cgroupfs driver: containerd (bare id) and CRI-O (crio-<id>, no .scope)
  [
    'cgroupfs containerd burstable',
    `/kubepods/burstable/pod${UID}/${ID}`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'burstable' },
  ],
  [
    'cgroupfs containerd besteffort',
    `/kubepods/besteffort/pod${UID}/${ID}`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'besteffort' },
  ],
  [
    'cgroupfs containerd guaranteed (directly under kubepods)',
    `/kubepods/pod${UID}/${ID}`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'guaranteed' },
  ],
  [
    'cgroupfs CRI-O burstable',
    `/kubepods/burstable/pod${UID}/crio-${ID}`,
    { id: ID, runtime: 'cri-o', podUid: UID, qos: 'burstable' },
  ],
  [
    'cgroupfs CRI-O besteffort',
    `/kubepods/besteffort/pod${UID}/crio-${ID}`,
    { id: ID, runtime: 'cri-o', podUid: UID, qos: 'besteffort' },
  ],
  [
    'cgroupfs CRI-O guaranteed',
    `/kubepods/pod${UID}/crio-${ID}`,
    { id: ID, runtime: 'cri-o', podUid: UID, qos: 'guaranteed' },
  ],
  [
    'cgroupfs static pod (config-hash UID)',
    `/kubepods/burstable/pod${STATIC_UID}/${ID}`,
    { id: ID, runtime: 'containerd', podUid: STATIC_UID, qos: 'burstable' },
  ],
  [
    'cgroupfs under a kubelet --cgroup-root',
    `/kubelet/kubepods/besteffort/pod${UID}/${ID}`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'besteffort' },
  ],
  // systemd driver: containerd, CRI-O, cri-dockerd
  [
    'systemd containerd burstable',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'burstable' },
  ],
  [
    'systemd containerd besteffort',
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'besteffort' },
  ],
  [
    'systemd containerd guaranteed',
    `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'guaranteed' },
  ],
  [
    'systemd CRI-O burstable',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
    { id: ID, runtime: 'cri-o', podUid: UID, qos: 'burstable' },
  ],
  [
    'systemd CRI-O guaranteed',
    `/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope`,
    { id: ID, runtime: 'cri-o', podUid: UID, qos: 'guaranteed' },
  ],
  [
    'systemd cri-dockerd besteffort',
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${ID}.scope`,
    { id: ID, runtime: 'docker', podUid: UID, qos: 'besteffort' },
  ],
  [
    'systemd static pod',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice/cri-containerd-${ID}.scope`,
    { id: ID, runtime: 'containerd', podUid: STATIC_UID, qos: 'burstable' },
  ],
  [
    'systemd under a kubelet --cgroup-root of /kubelet.slice (kind)',
    `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { id: ID, runtime: 'containerd', podUid: UID, qos: 'burstable' },
  ],
  [
    'systemd guaranteed under a kubelet --cgroup-root',
    `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${UID_}.slice/crio-${ID}.scope`,
    { id: ID, runtime: 'cri-o', podUid: UID, qos: 'guaranteed' },
  ],
  // A process of the container that made its own sub-cgroup (CRI-O's "container" sub-cgroup on v2, systemd in
  // a container) belongs to the container, whose own cgroup is reported.
  [
    'sub-cgroup of a systemd CRI-O container',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope/container`,
    {
      id: ID,
      runtime: 'cri-o',
      podUid: UID,
      qos: 'burstable',
      cgroupPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
    },
  ],
  [
    'sub-cgroup of a cgroupfs container',
    `/kubepods/burstable/pod${UID}/${ID}/init.scope`,
    {
      id: ID,
      runtime: 'containerd',
      podUid: UID,
      qos: 'burstable',
      cgroupPath: `/kubepods/burstable/pod${UID}/${ID}`,
    },
  ],
];

const notContainers: Array<[string, string]> = [
  ['the kubepods root (cgroupfs)', '/kubepods'],
  ['a QoS cgroup (cgroupfs)', '/kubepods/burstable'],
  ['a pod cgroup (cgroupfs)', `/kubepods/burstable/pod${UID}`],
  ['a Guaranteed pod cgroup (cgroupfs)', `/kubepods/pod${UID}`],
  ['the kubepods slice', '/kubepods.slice'],
  ['a QoS slice', '/kubepods.slice/kubepods-besteffort.slice'],
  ['a pod slice', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`],
  [
    'CRI-O conmon scope (systemd)',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`,
  ],
  ['CRI-O conmon cgroup (cgroupfs)', `/kubepods/besteffort/pod${UID}/crio-conmon-${ID}`],
  ['the kubelet service', '/system.slice/kubelet.service'],
  ['containerd itself', '/system.slice/containerd.service'],
  ['a bare id outside any pod or docker parent', `/somewhere/${ID}`],
  ['a QoS name outside kubepods', `/burstable/pod${UID}`],
];

describe('containerFromCgroupPath on Kubernetes layouts', () => {
  it.each(pods)('%s', (_name, path, want) => {
    expect(containerFromCgroupPath(path)).toEqual({ cgroupPath: path, ...want });
  });

  it.each(notContainers)('%s is not a container', (_name, path) => {
    expect(containerFromCgroupPath(path)).toBeNull();
  });

  it('tells two containers of one pod apart, the sandbox included (the path cannot say which is which)', () => {
    const pod = `/kubepods/burstable/pod${UID}`;
    const a = containerFromCgroupPath(`${pod}/${ID}`);
    const b = containerFromCgroupPath(`${pod}/${ID2}`);
    expect(a?.id).toBe(ID);
    expect(b?.id).toBe(ID2);
    expect(a?.podUid).toBe(b?.podUid);
  });

  it('the kernel log and discovery agree: a task_memcg path as the kernel prints it maps to the same container', () => {
    // oom-kill:...,oom_memcg=/kubepods/burstable/pod<uid>/<id>,task_memcg=/kubepods/burstable/pod<uid>/<id>,...
    const fromKmsg = containerFromCgroupPath(`/kubepods/burstable/pod${UID}/${ID}`);
    const fromWalk = containerFromCgroupPath(`kubepods/burstable/pod${UID}/${ID}`);
    expect(fromKmsg).toEqual(fromWalk);
  });

  it.each([
    [`crio-conmon-${ID}.scope`, false],
    [`crio-conmon-${ID}`, false],
    [`libpod-conmon-${ID}.scope`, false],
    ['kubepods-burstable.slice', true],
    [`kubepods-besteffort-pod${UID_}.slice`, true],
    [`pod${UID}`, true],
  ])('the walker descends into %s: %s', (name, want) => {
    expect(mayHoldContainers(name)).toBe(want);
  });
});
