import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type PodLike,
  containerById,
  fieldPath,
  parseContainerId,
  podView,
  terminationKey,
} from '../../../src/sources/kubernetes/pod-view';
import { FIXTURES as ALL_FIXTURES } from '../../helpers/paths';

/** Pods as the API serves them (test/fixtures/k8s/README.md says where each shape comes from). */
const FIXTURES = path.join(ALL_FIXTURES, 'k8s');
const load = (name: string): PodLike =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as PodLike;

describe('parseContainerId', () => {
  const id = 'ab'.repeat(32);
  it.each([
    [`containerd://${id}`, { id, runtime: 'containerd' }],
    [`cri-o://${id}`, { id, runtime: 'cri-o' }],
    [`docker://${id}`, { id, runtime: 'docker' }],
    [`cri-dockerd://${id}`, { id }],
  ])('%s', (text, want) => {
    expect(parseContainerId(text)).toEqual(want);
  });
  it.each([undefined, '', id, 'containerd://', `containerd://${id.slice(1)}`, `containerd:/${id}`])(
    '%s is not a container id',
    (text) => {
      expect(parseContainerId(text)).toBeUndefined();
    },
  );
});

describe('podView', () => {
  it('a Burstable containerd pod: containers, init container, ids of this and the last run, memory from the spec', () => {
    const view = podView(load('pod-burstable-containerd.json'));
    expect(view).toMatchObject({
      uid: '0f7e3c2a-9d1b-4c5e-8f6a-7b8c9d0e1f2a',
      namespace: 'shop',
      name: 'cart-7d9f8b6c5d-x2x9q',
    });
    expect(view?.mirrorOf).toBeUndefined();
    expect(view?.containers.map((c) => [c.kind, c.name])).toEqual([
      ['container', 'app'],
      ['container', 'log-shipper'],
      ['init', 'migrate'],
    ]);
    const app = view?.containers[0];
    expect(app).toEqual({
      name: 'app',
      kind: 'container',
      ids: ['4d3c2b1a'.repeat(8), '1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a'],
      runtime: 'containerd',
      restartCount: 3,
      terminations: [
        {
          reason: 'OOMKilled',
          exitCode: 137,
          finishedAtMs: Date.parse('2024-05-14T09:31:07Z'),
          containerId: '1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a',
        },
      ],
      requestBytes: 128 * 1024 * 1024,
      limitBytes: 256 * 1024 * 1024,
    });
    // Decimal suffixes: 64M is 64,000,000 bytes, not 64 MiB.
    expect(view?.containers[1]).toMatchObject({
      requestBytes: 32_000_000,
      limitBytes: 64_000_000,
      restartCount: 0,
      terminations: [],
    });
    const migrate = view?.containers[2];
    expect(migrate?.terminations).toEqual([expect.objectContaining({ reason: 'Completed', exitCode: 0 })]);
    expect(fieldPath(migrate!)).toBe('spec.initContainers{migrate}');
    expect(fieldPath(app!)).toBe('spec.containers{app}');
    expect(containerById(view!, '4d3c2b1a'.repeat(8))?.name).toBe('app');
    expect(
      containerById(view!, '1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a')?.name,
    ).toBe('app');
    expect(containerById(view!, 'ff'.repeat(32))).toBeUndefined();
    expect(view?.problems).toEqual([]);
  });

  it('a Guaranteed CRI-O pod', () => {
    const view = podView(load('pod-guaranteed-crio.json'));
    expect(view?.containers).toEqual([
      expect.objectContaining({
        name: 'postgres',
        runtime: 'cri-o',
        ids: ['e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6'],
        requestBytes: 1073741824,
        limitBytes: 1073741824,
      }),
    ]);
  });

  it("a static pod's mirror carries the kubelet's UID (the one in its cgroup name)", () => {
    const view = podView(load('pod-static-mirror.json'));
    expect(view?.uid).toBe('c4d5e6f7-0a1b-4c2d-8e3f-5a6b7c8d9e0f');
    expect(view?.mirrorOf).toBe('5b1f3e0c9a8d7e6f5a4b3c2d1e0f9a8b');
  });

  it('a pending pod: no container id yet, no memory resources', () => {
    const view = podView(load('pod-pending-besteffort.json'));
    expect(view?.containers).toEqual([
      { name: 'report', kind: 'container', ids: [], restartCount: 0, terminations: [] },
    ]);
  });

  it('a container that does not restart (restartPolicy Never) shows its OOM kill in state.terminated', () => {
    const pod = load('pod-pending-besteffort.json');
    const id = 'c0'.repeat(32);
    pod.status!.containerStatuses = [
      {
        name: 'report',
        containerID: `containerd://${id}`,
        restartCount: 0,
        state: {
          terminated: {
            reason: 'OOMKilled',
            exitCode: 137,
            finishedAt: '2024-05-14T10:02:41Z',
            containerID: `containerd://${id}`,
          },
        },
      },
    ];
    const t = podView(pod)?.containers[0]?.terminations;
    expect(t).toEqual([
      {
        reason: 'OOMKilled',
        exitCode: 137,
        finishedAtMs: Date.parse('2024-05-14T10:02:41Z'),
        containerId: id,
      },
    ]);
  });

  it('the same termination keeps its key when a restart moves it from state to lastState', () => {
    const id = 'd1'.repeat(32);
    const terminated = {
      reason: 'OOMKilled',
      exitCode: 137,
      finishedAt: '2024-05-14T10:02:41Z',
      containerID: `containerd://${id}`,
    };
    const before = podView({
      metadata: { uid: 'u', name: 'p' },
      spec: { containers: [{ name: 'c' }] },
      status: {
        containerStatuses: [
          { name: 'c', restartCount: 0, containerID: `containerd://${id}`, state: { terminated } },
        ],
      },
    });
    const after = podView({
      metadata: { uid: 'u', name: 'p' },
      spec: { containers: [{ name: 'c' }] },
      status: {
        containerStatuses: [
          {
            name: 'c',
            restartCount: 1,
            containerID: `containerd://${'e2'.repeat(32)}`,
            lastState: {
              terminated: { ...terminated, finishedAt: new Date(terminated.finishedAt) as unknown as string },
            },
          },
        ],
      },
    });
    expect(terminationKey(before!.containers[0]!.terminations[0]!)).toBe(
      terminationKey(after!.containers[0]!.terminations[0]!),
    );
  });

  it('the resources a resized container runs with (status) win over the spec', () => {
    const pod = load('pod-guaranteed-crio.json');
    (pod.status!.containerStatuses![0] as { resources?: unknown }).resources = {
      limits: { memory: '2Gi' },
      requests: { memory: '2Gi' },
    };
    expect(podView(pod)?.containers[0]).toMatchObject({
      limitBytes: 2 * 1073741824,
      requestBytes: 2 * 1073741824,
    });
  });

  it('a quantity that does not parse drops that value only, and says where', () => {
    const pod = load('pod-guaranteed-crio.json');
    pod.spec!.containers![0]!.resources = { limits: { memory: '1GB' }, requests: { memory: '512Mi' } };
    const view = podView(pod);
    expect(view?.containers[0]?.limitBytes).toBeUndefined();
    expect(view?.containers[0]?.requestBytes).toBe(512 * 1024 * 1024);
    expect(view?.problems).toEqual([
      expect.stringContaining('containers[postgres].resources.limits.memory: "1GB"'),
    ]);
  });

  it('an object without uid or name is not a pod', () => {
    expect(podView({ metadata: { name: 'x' } })).toBeUndefined();
    expect(podView({})).toBeUndefined();
  });
});
