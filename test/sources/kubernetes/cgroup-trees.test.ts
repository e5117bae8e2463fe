import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { discoverContainers } from '../../../src/cgroup/discover';
import { type RunningOomwatch, eventually, startOomwatch } from '../../helpers/daemon';
import { FakeApiServer, type Json, podFixture, writeKubeconfig } from '../../helpers/fake-apiserver';
import { type PromSample, findSamples, valueOf } from '../../helpers/prom';
import { QOS_LABEL } from '../../../src/state/containers';
import { FIXTURES } from '../../helpers/paths';

/**
 * The Kubernetes systemd-driver layouts on cgroup v2 (test/fixtures/cgroup/k8s-systemd-*, written by
 * test/helpers/make-k8s-cgroup-trees.mjs): containerd's cri-containerd-<id>.scope and CRI-O's
 * crio-<id>.scope with the crio-conmon-<id>.scope beside it, every QoS class, a static pod, the sandboxes.
 * First from the paths alone, then through the real binary, without and with the Kubernetes API.
 */

const TREES = path.join(FIXTURES, 'cgroup');
const NODE = 'worker-3';

interface Expected {
  containers: Array<{
    pod: string;
    container: string;
    sandbox?: boolean;
    id: string;
    podUid: string;
    qos: string;
    cgroupPath: string;
    limit?: number | null;
    oomKills?: number;
  }>;
  notContainers: string[];
}

const expectedOf = (tree: string): Expected =>
  JSON.parse(fs.readFileSync(path.join(TREES, tree, 'expected.json'), 'utf8')) as Expected;

describe.each([
  ['k8s-systemd-containerd', 'containerd'],
  ['k8s-systemd-crio', 'cri-o'],
])('%s: discovery from the paths alone', (tree, runtime) => {
  const expected = expectedOf(tree);

  it('finds every container of every pod, sandboxes included, with pod UID, QoS class and runtime', () => {
    const found = discoverContainers(path.join(TREES, tree));
    expect([...found.values()].sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      expected.containers
        .map((c) => ({ id: c.id, runtime, cgroupPath: c.cgroupPath, podUid: c.podUid, qos: c.qos }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    );
  });

  it('skips what is not a container: CRI-O monitors, the kubelet and runtime services', () => {
    const found = discoverContainers(path.join(TREES, tree));
    const paths = new Set([...found.values()].map((c) => c.cgroupPath));
    for (const p of expected.notContainers) expect(paths.has(p)).toBe(false);
    if (runtime === 'cri-o')
      expect(expected.notContainers.some((p) => p.includes('/crio-conmon-'))).toBe(true);
  });
});

describe('the binary over the CRI-O tree', () => {
  const tree = path.join(TREES, 'k8s-systemd-crio');
  const expected = expectedOf('k8s-systemd-crio');
  const byName = (pod: string, container: string) =>
    expected.containers.find((c) => c.pod === pod && c.container === container)!;
  const sandboxes = expected.containers.filter((c) => c.sandbox);
  let ow: RunningOomwatch | undefined;
  let server: FakeApiServer | undefined;
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-k8s-tree-'));
  });
  afterEach(async () => {
    await ow?.stop();
    ow = undefined;
    await server?.stop();
    server = undefined;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const args = ['--cgroup-root', tree, '--interval', '0.5', '--kmsg', 'none', '--docker-socket', 'none'];
  const info = (samples: PromSample[], id: string) =>
    findSamples(samples, 'oomwatch_container_info', { id: id.slice(0, 12) })[0]?.labels;

  it('without the API: every container cgroup is exported with its pod UID and QoS class, the sandboxes too', async () => {
    ow = await startOomwatch({ args, env: { KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' } });
    const samples = await eventually(
      async () => {
        const s = await ow!.scrape();
        return findSamples(s, 'oomwatch_container_info').length >= expected.containers.length ? s : undefined;
      },
      15_000,
      'every container',
    );
    for (const c of expected.containers) {
      expect(info(samples, c.id)).toMatchObject({
        runtime: 'cri-o',
        pod_uid: c.podUid,
        qos_class: QOS_LABEL[c.qos as keyof typeof QOS_LABEL],
        namespace: '',
        pod: '',
        container: '',
      });
    }
    const app = byName('cart', 'app');
    expect(valueOf(samples, 'oomwatch_container_memory_limit_bytes', { id: app.id.slice(0, 12) })).toBe(
      app.limit,
    );
    expect(valueOf(samples, 'oomwatch_container_cgroup_oom_kills_total', { id: app.id.slice(0, 12) })).toBe(
      app.oomKills,
    );
    const report = byName('report', 'report');
    expect(valueOf(samples, 'oomwatch_container_memory_unlimited', { id: report.id.slice(0, 12) })).toBe(1);
    expect(ow.logs.some((l) => l.includes('Kubernetes source off'))).toBe(true);
  });

  it('with the API: namespace, pod and container on every series, the sandboxes hidden, the spec beside the cgroup', async () => {
    server = new FakeApiServer();
    await server.start();
    // The fixture pods, placed on this node, with the tree's pod UIDs and CRI-O container ids, running.
    const set = (name: string, uid: string | undefined, ids: Record<string, string>): Json => {
      const p = podFixture(name, { node: NODE, ids, runtime: 'cri-o', ...(uid ? { uid } : {}) });
      for (const s of p.status.containerStatuses)
        s.state = { running: { startedAt: '2024-05-14T10:00:05Z' } };
      return p;
    };
    const cart = byName('cart', 'app');
    server.addPod(
      set('pod-burstable-containerd.json', cart.podUid, {
        app: cart.id,
        'log-shipper': byName('cart', 'log-shipper').id,
      }),
    );
    server.addPod(
      set('pod-guaranteed-crio.json', byName('db', 'postgres').podUid, {
        postgres: byName('db', 'postgres').id,
      }),
    );
    server.addPod(
      set('pod-pending-besteffort.json', byName('report', 'report').podUid, {
        report: byName('report', 'report').id,
      }),
    );
    // The static pod's mirror has its own API uid; the cgroup carries the kubelet's config hash.
    server.addPod(
      set('pod-static-mirror.json', undefined, { 'node-cache': byName('node-cache', 'node-cache').id }),
    );
    const kubeconfig = writeKubeconfig(path.join(dir, 'kubeconfig'), server.url);
    ow = await startOomwatch({ args: [...args, '--kubeconfig', kubeconfig, '--node-name', NODE] });

    const workloads = expected.containers.filter((c) => !c.sandbox);
    const samples = await eventually(
      async () => {
        const s = await ow!.scrape();
        const named = findSamples(s, 'oomwatch_container_info').filter((x) => x.labels['container'] !== '');
        return named.length === workloads.length &&
          valueOf(s, 'oomwatch_source_up', { source: 'kubernetes' }) === 1
          ? s
          : undefined;
      },
      15_000,
      'every workload named',
    );

    const names: Record<string, [string, string]> = {
      cart: ['shop', 'cart-7d9f8b6c5d-x2x9q'],
      db: ['data', 'db-0'],
      report: ['batch', 'report-28597680-tq8zd'],
      'node-cache': ['kube-system', 'node-cache-worker-3'],
    };
    for (const c of workloads) {
      const [namespace, pod] = names[c.pod]!;
      expect(info(samples, c.id)).toMatchObject({
        namespace,
        pod,
        container: c.container,
        pod_uid: c.podUid,
        qos_class: QOS_LABEL[c.qos as keyof typeof QOS_LABEL],
      });
      // Every series of the container carries the names, not only the info series.
      expect(
        findSamples(samples, 'oomwatch_container_memory_usage_bytes', { id: c.id.slice(0, 12) })[0]?.labels,
      ).toMatchObject({ namespace, pod, container: c.container });
    }
    for (const s of sandboxes)
      expect(samples.filter((x) => x.labels['id'] === s.id.slice(0, 12))).toEqual([]);

    const app = { namespace: 'shop', pod: 'cart-7d9f8b6c5d-x2x9q', container: 'app' };
    expect(valueOf(samples, 'oomwatch_pod_container_memory_spec_limit_bytes', app)).toBe(256 * 1024 * 1024);
    expect(
      valueOf(samples, 'oomwatch_container_memory_limit_bytes', { ...app, id: cart.id.slice(0, 12) }),
    ).toBe(256 * 1024 * 1024);
    expect(valueOf(samples, 'oomwatch_pod_container_memory_request_bytes', app)).toBe(128 * 1024 * 1024);
    expect(valueOf(samples, 'oomwatch_pod_container_restarts_total', app)).toBe(3);
    expect(valueOf(samples, 'oomwatch_kubernetes_pods')).toBe(4);
  });
});
