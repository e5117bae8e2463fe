import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { V1Cgroups, V1_MEMORY, allocateScript, randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { FakeApiServer, type Json, podFixture, writeKubeconfig } from '../helpers/fake-apiserver';
import { describeIf, hasKmsg, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { type PromSample, findSamples, valueOf } from '../helpers/prom';
import { QOS_LABEL } from '../../src/state/containers';

/**
 * Kubernetes node mode on the real kernel: memory cgroups in the kubelet's cgroupfs layout on this machine's
 * v1 hierarchy (a Burstable pod at kubepods/burstable/pod<uid>/<id>, a Guaranteed pod directly at
 * kubepods/pod<uid>/<id>, each with its sandbox's cgroup beside the workload), a process OOM-killed for real
 * in each, and the real binary reading /dev/kmsg and the cgroup counters.
 *   - Without the API: the kill is attributed to the pod UID and container id from the cgroup path alone.
 *   - With the test API server serving the pods: the kill's series carry the namespace, pod and container
 *     names, the sandbox is not exported, and an OOMKilling Event is created on the pod.
 * Other suites make cgroups and OOM kills on this host at the same time: every name here is unique and
 * every assertion is about this suite's own containers.
 */

const NODE = `node-${randomHex(6)}`;
const LIMIT = 48 * 1024 * 1024;

interface Pod {
  uid: string;
  qos: 'burstable' | 'guaranteed';
  workload: string;
  sandbox: string;
  dir: string;
  podDir: string;
}

interface OomEventJson {
  scope: string;
  sources: string[];
  cgroup: string | null;
  container: { id: string; namespace: string; pod: string; container: string } | null;
  victim: { pid: number; comm: string; rss_bytes: number } | null;
}

const short = (id: string): string => id.slice(0, 12);

function kernelKills(dir: string): number {
  return Number(
    /^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(dir, 'memory.oom_control'), 'utf8'))?.[1] ?? 0,
  );
}

async function oomEvents(ow: RunningOomwatch, id: string): Promise<OomEventJson[]> {
  const res = await fetch(`${ow.url}/api/v1/oom-events?container=${short(id)}`);
  return ((await res.json()) as { events: OomEventJson[] }).events;
}

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  hasKmsg(),
)('Kubernetes cgroupfs layout on the real kernel', () => {
  const cgroups = new V1Cgroups();
  const made: Pod[] = [];
  const shared: string[] = [];

  /** kubepods and its QoS levels are shared parents: made if missing, removed at the end only if empty. */
  function parent(rel: string): void {
    let dir = V1_MEMORY;
    for (const part of rel.split('/')) {
      dir = path.join(dir, part);
      try {
        fs.mkdirSync(dir);
        shared.push(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }

  function makePod(qos: Pod['qos']): Pod {
    const uid = randomUUID();
    const podRel = qos === 'guaranteed' ? `kubepods/pod${uid}` : `kubepods/${qos}/pod${uid}`;
    parent(qos === 'guaranteed' ? 'kubepods' : `kubepods/${qos}`);
    const workload = randomHex(64);
    const sandbox = randomHex(64);
    // The pod-level cgroup holds the pod's limit for a Guaranteed pod, as the kubelet sets it.
    const podDir = cgroups.make(podRel, qos === 'guaranteed' ? LIMIT + 8 * 1024 * 1024 : undefined);
    const dir = cgroups.make(`${podRel}/${workload}`, LIMIT);
    const sandboxDir = cgroups.make(`${podRel}/${sandbox}`);
    // The sandbox's "pause" process: something that sleeps in its cgroup, as /pause does.
    cgroups.runIn(sandboxDir, 'sleep 3600');
    const pod = { uid, qos, workload, sandbox, dir, podDir };
    made.push(pod);
    return pod;
  }

  /** OOM-kill a process in the workload's cgroup for real; resolves with the kernel's oom_kill count. */
  async function oomKill(pod: Pod): Promise<number> {
    const before = kernelKills(pod.dir);
    const { exited } = cgroups.runIn(pod.dir, allocateScript(100));
    const result = await exited;
    expect(result.signal ?? result.code).toBeTruthy();
    const after = kernelKills(pod.dir);
    expect(after).toBeGreaterThan(before);
    return after;
  }

  afterAll(() => {
    cgroups.cleanup();
    for (const dir of shared.reverse()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // another suite's pods are still in it, or it is already gone
      }
    }
  });

  describe('without the Kubernetes API: from the cgroup path alone', () => {
    let ow: RunningOomwatch;
    let burstable: Pod;
    let guaranteed: Pod;

    beforeAll(async () => {
      burstable = makePod('burstable');
      guaranteed = makePod('guaranteed');
      ow = await startOomwatch({
        args: [
          '--cgroup-root',
          '/sys/fs/cgroup',
          '--interval',
          '0.5',
          '--docker-socket',
          'none',
          '--kmsg',
          '/dev/kmsg',
        ],
        env: { KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', NODE_NAME: '' },
      });
    });
    afterAll(async () => {
      await ow?.stop();
    });

    it.each([['burstable'], ['guaranteed']] as const)(
      'a kill in a %s pod: its pod UID, container id and QoS class, through the kernel log and the cgroup counter',
      async (qos) => {
        const pod = qos === 'burstable' ? burstable : guaranteed;
        await eventually(
          async () =>
            findSamples(await ow.scrape(), 'oomwatch_container_info', { id: short(pod.workload) })[0],
          10_000,
          'the container discovered',
        );
        const kernel = await oomKill(pod);
        const samples = await eventually(
          async () => {
            const s = await ow.scrape();
            const id = { id: short(pod.workload) };
            const fused = valueOf(s, 'oomwatch_container_oom_kills_total', id);
            return fused === kernel && valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', id) === kernel
              ? s
              : undefined;
          },
          15_000,
          `oom_kills_total and the cgroup counter to reach the kernel's ${kernel}`,
        );
        expect(
          findSamples(samples, 'oomwatch_container_info', { id: short(pod.workload) })[0]?.labels,
        ).toMatchObject({
          pod_uid: pod.uid,
          qos_class: QOS_LABEL[qos],
          runtime: 'containerd',
          namespace: '',
          pod: '',
          container: '',
        });
        expect(
          valueOf(samples, 'oomwatch_container_cgroup_oom_kills_total', { id: short(pod.workload) }),
        ).toBe(kernel);
        expect(valueOf(samples, 'oomwatch_container_memory_limit_bytes', { id: short(pod.workload) })).toBe(
          LIMIT,
        );
        // Both sources saw the one kill: the kernel-log record (with the victim) and the cgroup counter.
        const events = await eventually(
          async () => {
            const e = await oomEvents(ow, pod.workload);
            return e.length === kernel && e[0]?.sources.includes('kmsg') && e[0].sources.includes('cgroup')
              ? e
              : undefined;
          },
          10_000,
          'the kill in the event log from kmsg and cgroup',
        );
        expect(events[0]).toMatchObject({
          scope: 'container',
          cgroup:
            qos === 'guaranteed'
              ? `/kubepods/pod${pod.uid}/${pod.workload}`
              : `/kubepods/burstable/pod${pod.uid}/${pod.workload}`,
          container: { id: pod.workload },
        });
        expect(events[0]?.victim?.pid).toBeGreaterThan(1);
        expect(events[0]?.victim?.rss_bytes).toBeGreaterThan(16 * 1024 * 1024);
        // Without the API the sandbox cannot be told from a workload: it is exported, with its pod UID.
        expect(
          findSamples(samples, 'oomwatch_container_info', { id: short(pod.sandbox) })[0]?.labels,
        ).toMatchObject({ pod_uid: pod.uid });
      },
    );
  });

  describe('with the Kubernetes API (the test API server)', () => {
    let ow: RunningOomwatch;
    let server: FakeApiServer;
    let dir: string;
    let burstable: Pod;
    let guaranteed: Pod;
    const names = {
      burstable: { namespace: 'shop', pod: 'cart-7d9f8b6c5d-x2x9q', container: 'app' },
      guaranteed: { namespace: 'data', pod: 'db-0', container: 'postgres' },
    };

    function podObject(pod: Pod): Json {
      const p =
        pod.qos === 'burstable'
          ? podFixture('pod-burstable-containerd.json', {
              node: NODE,
              uid: pod.uid,
              ids: { app: pod.workload, 'log-shipper': randomHex(64) },
            })
          : podFixture('pod-guaranteed-crio.json', {
              node: NODE,
              uid: pod.uid,
              ids: { postgres: pod.workload },
              runtime: 'containerd',
            });
      p.metadata.name = names[pod.qos].pod;
      return p;
    }

    beforeAll(async () => {
      burstable = makePod('burstable');
      guaranteed = makePod('guaranteed');
      server = new FakeApiServer({ tls: true, token: 'real-kernel-token' });
      await server.start();
      server.addPod(podObject(burstable));
      server.addPod(podObject(guaranteed));
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-k8s-real-'));
      const kubeconfig = writeKubeconfig(path.join(dir, 'kubeconfig'), server.url, {
        token: 'real-kernel-token',
      });
      ow = await startOomwatch({
        args: [
          '--cgroup-root',
          '/sys/fs/cgroup',
          '--interval',
          '0.5',
          '--docker-socket',
          'none',
          '--kmsg',
          '/dev/kmsg',
          '--kubeconfig',
          kubeconfig,
          '--node-name',
          NODE,
        ],
      });
      await eventually(
        async () =>
          valueOf(await ow.scrape(), 'oomwatch_source_up', { source: 'kubernetes' }) === 1 ? true : undefined,
        15_000,
        'the Kubernetes source up',
      );
    });
    afterAll(async () => {
      await ow?.stop();
      await server?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it.each([['burstable'], ['guaranteed']] as const)(
      'a kill in a %s pod: namespace, pod and container from the API on its series, the sandbox hidden, an OOMKilling Event on the pod',
      async (qos) => {
        const pod = qos === 'burstable' ? burstable : guaranteed;
        const want = names[qos];
        await eventually(
          async () =>
            findSamples(await ow.scrape(), 'oomwatch_container_info', {
              id: short(pod.workload),
              ...want,
            })[0],
          10_000,
          'the container named',
        );
        const kernel = await oomKill(pod);
        const samples: PromSample[] = await eventually(
          async () => {
            const s = await ow.scrape();
            const id = { id: short(pod.workload), ...want };
            const fused = valueOf(s, 'oomwatch_container_oom_kills_total', id);
            return fused === kernel && valueOf(s, 'oomwatch_container_cgroup_oom_kills_total', id) === kernel
              ? s
              : undefined;
          },
          15_000,
          'the kill on the named series, from the kernel log and the cgroup counter',
        );
        expect(
          findSamples(samples, 'oomwatch_container_info', { id: short(pod.workload) })[0]?.labels,
        ).toMatchObject({ ...want, pod_uid: pod.uid, qos_class: QOS_LABEL[qos] });
        expect(
          valueOf(samples, 'oomwatch_container_cgroup_oom_kills_total', { id: short(pod.workload), ...want }),
        ).toBe(kernel);
        expect(
          valueOf(samples, 'oomwatch_container_memory_limit_bytes', { id: short(pod.workload), ...want }),
        ).toBe(LIMIT);
        // The pod's sandbox cgroup is in no container status: not exported at all.
        expect(samples.filter((x) => x.labels['id'] === short(pod.sandbox))).toEqual([]);
        const events = await eventually(
          async () => {
            const e = await oomEvents(ow, pod.workload);
            return e.length === kernel && e[0]?.sources.includes('kmsg') ? e : undefined;
          },
          10_000,
          'the event log',
        );
        expect(events[0]?.container).toMatchObject({ id: pod.workload, ...want });

        // kubectl get events --field-selector reason=OOMKilling
        const event = await eventually(
          () => server.eventsWithReason('OOMKilling').find((e) => e.involvedObject.uid === pod.uid),
          10_000,
          'the OOMKilling Event',
        );
        expect(event).toMatchObject({
          metadata: { namespace: want.namespace },
          involvedObject: {
            kind: 'Pod',
            namespace: want.namespace,
            name: want.pod,
            uid: pod.uid,
            fieldPath: `spec.containers{${want.container}}`,
          },
          type: 'Warning',
          reason: 'OOMKilling',
          source: { component: 'oomwatch', host: NODE },
          count: kernel,
        });
        const victim = events[0]?.victim;
        expect(event.message).toContain(`killed process ${victim?.pid} (${victim?.comm})`);
        expect(event.message).toContain(`in container ${want.container}, memory limit 48Mi`);
      },
    );
  });
});
