import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { OomLedger } from '../../../src/accounting/ledger';
import { containerFromCgroupPath } from '../../../src/cgroup/container-path';
import { type Config, loadConfig } from '../../../src/config';
import { ExpositionWriter } from '../../../src/metrics/exposition';
import { MetricsRenderer } from '../../../src/metrics/render';
import { SelfMetrics } from '../../../src/metrics/self';
import { SERVICE_ACCOUNT_DIR, chooseCluster, loadClient } from '../../../src/sources/kubernetes/client';
import { setUpKubernetes } from '../../../src/sources/kubernetes';
import { KubernetesPodSource } from '../../../src/sources/kubernetes/pod-source';
import { ContainerTable } from '../../../src/state/containers';
import { eventually } from '../../helpers/daemon';
import { FIXTURES, FakeApiServer, podFixture, writeKubeconfig } from '../../helpers/fake-apiserver';
import { parseExposition, valueOf } from '../../helpers/prom';
import { kubernetesFamilies, kubernetesPodFamilies } from '../../../src/metrics/kubernetes-families';

/**
 * The pod metadata source against an API server speaking the list/watch protocol (test/helpers/
 * fake-apiserver.ts) over HTTPS with a bearer token, through the real @kubernetes/client-node.
 */

const NODE = 'worker-3';
const TOKEN = 'test-token-7f3a';
const hex = (seed: string): string => seed.repeat(64).slice(0, 64);
const APP = hex('a1');
const SHIPPER = hex('b2');
const SANDBOX = hex('c3');
const APP_PREVIOUS = hex('d4');
const CART_UID = '0f7e3c2a-9d1b-4c5e-8f6a-7b8c9d0e1f2a';

function capture(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return {
    log: pino({ level: 'debug' }, stream),
    lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function cartPod(
  overrides: { restartCount?: number; lastFinishedAt?: string; lastId?: string } = {},
): ReturnType<typeof podFixture> {
  const pod = podFixture('pod-burstable-containerd.json', {
    node: NODE,
    uid: CART_UID,
    ids: { app: APP, 'log-shipper': SHIPPER },
  });
  const app = pod.status.containerStatuses[0];
  app.lastState.terminated.containerID = `containerd://${overrides.lastId ?? APP_PREVIOUS}`;
  if (overrides.restartCount !== undefined) app.restartCount = overrides.restartCount;
  if (overrides.lastFinishedAt !== undefined) app.lastState.terminated.finishedAt = overrides.lastFinishedAt;
  return pod;
}

/** Container cgroups as discovery would find them on a cgroupfs node (the sandbox among them). */
function discovered(table: ContainerTable, ids: string[], podUid = CART_UID): void {
  for (const id of ids) {
    const entry = table.ensure(id);
    entry.setPath(containerFromCgroupPath(`/kubepods/burstable/pod${podUid}/${id}`)!);
  }
}

function scrape(source: KubernetesPodSource) {
  const w = new ExpositionWriter('prometheus');
  kubernetesPodFamilies(source)(w);
  return parseExposition(w.finish());
}

describe('Kubernetes pod source', () => {
  let server: FakeApiServer;
  let dir: string;
  let source: KubernetesPodSource | undefined;

  beforeEach(async () => {
    server = new FakeApiServer({ tls: true, token: TOKEN });
    await server.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-k8s-'));
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startSource(
    table: ContainerTable,
    log?: Logger,
    extra: Partial<ConstructorParameters<typeof KubernetesPodSource>[0]> = {},
  ) {
    const kubeconfig = writeKubeconfig(path.join(dir, 'kubeconfig'), server.url, { token: TOKEN });
    const choice = chooseCluster({ kubeconfig, env: {} });
    if (choice.kind === 'none') throw new Error(choice.why);
    const client = await loadClient(choice);
    source = new KubernetesPodSource({
      client,
      table,
      nodeName: NODE,
      log: log ?? capture().log,
      seriesGraceMs: 60_000,
      backoff: { initialMs: 50, maxMs: 400 },
      watchTimeoutSeconds: 60,
      ...extra,
    });
    await source.start();
    return source;
  }

  it("lists and watches only this node's pods, with bookmarks, and names every container series", async () => {
    server.addPod(cartPod());
    server.addPod(podFixture('pod-guaranteed-crio.json', { node: 'worker-9' }));
    const table = new ContainerTable();
    discovered(table, [APP, SHIPPER, SANDBOX]);
    const s = await startSource(table);
    await eventually(() => (s.up && server.activeWatches === 1 ? true : undefined), 10_000, 'list and watch');

    const list = server.requests.find((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null)!;
    expect(list.query.get('fieldSelector')).toBe(`spec.nodeName=${NODE}`);
    expect(list.authorization).toBe(`Bearer ${TOKEN}`);
    const watch = server.requests.find((r) => r.query.get('watch') === 'true')!;
    expect(watch.query.get('fieldSelector')).toBe(`spec.nodeName=${NODE}`);
    expect(watch.query.get('allowWatchBookmarks')).toBe('true');
    expect(watch.query.get('resourceVersion')).toBe(server.resourceVersion);
    expect(Number(watch.query.get('timeoutSeconds'))).toBeGreaterThan(0);

    expect(table.get(APP)?.labels).toMatchObject({
      namespace: 'shop',
      pod: 'cart-7d9f8b6c5d-x2x9q',
      container: 'app',
    });
    expect(table.get(SHIPPER)?.labels).toMatchObject({
      namespace: 'shop',
      pod: 'cart-7d9f8b6c5d-x2x9q',
      container: 'log-shipper',
    });
    // The pod's third cgroup is in no container status: the sandbox, never exported.
    expect(table.get(SANDBOX)?.sandbox).toBe(true);
    expect(table.get(APP)?.sandbox).toBe(false);

    const samples = scrape(s);
    const app = { namespace: 'shop', pod: 'cart-7d9f8b6c5d-x2x9q', container: 'app' };
    expect(valueOf(samples, 'oomwatch_pod_container_restarts_total', app)).toBe(3);
    expect(valueOf(samples, 'oomwatch_pod_container_memory_request_bytes', app)).toBe(128 * 1024 * 1024);
    expect(valueOf(samples, 'oomwatch_pod_container_memory_spec_limit_bytes', app)).toBe(256 * 1024 * 1024);
    // The fixture's OOMKilled termination is from 2024, before this source started: the series starts at 0.
    expect(valueOf(samples, 'oomwatch_pod_container_kubelet_oom_terminations_total', app)).toBe(0);
    expect(valueOf(samples, 'oomwatch_kubernetes_pods')).toBe(1);
    // Another node's pod is nowhere.
    expect(samples.filter((x) => x.labels['pod'] === 'db-0')).toEqual([]);
  });

  it('labels a container discovered after its pod, and a new container once its status names it', async () => {
    server.addPod(cartPod());
    const table = new ContainerTable();
    const s = await startSource(table);
    await eventually(() => (s.up ? true : undefined));
    discovered(table, [APP]);
    await Promise.resolve(); // the labels are applied a microtask after discovery creates the entry
    expect(table.get(APP)?.labels.container).toBe('app');

    // A container restarted: its new cgroup shows up before the kubelet reports the new id.
    const restarted = hex('e5');
    discovered(table, [restarted]);
    await Promise.resolve();
    expect(table.get(restarted)?.sandbox).toBe(true);
    const pod = cartPod({ restartCount: 4, lastId: APP, lastFinishedAt: new Date().toISOString() });
    pod.status.containerStatuses[0].containerID = `containerd://${restarted}`;
    server.modifyPod(pod);
    await eventually(
      () => (table.get(restarted)?.labels.container === 'app' ? true : undefined),
      5000,
      'the new id labelled',
    );
    expect(table.get(restarted)?.sandbox).toBe(false);
  });

  it('counts a kubelet OOM termination once per run, across updates, a restart and a relist', async () => {
    server.addPod(cartPod());
    const table = new ContainerTable();
    const s = await startSource(table);
    await eventually(() => (s.up && server.activeWatches === 1 ? true : undefined));
    const app = { namespace: 'shop', pod: 'cart-7d9f8b6c5d-x2x9q', container: 'app' };
    const kills = (): number | undefined =>
      valueOf(scrape(s), 'oomwatch_pod_container_kubelet_oom_terminations_total', app);

    const finished = new Date(Date.now() + 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const oomed = cartPod({ restartCount: 4, lastId: APP, lastFinishedAt: finished });
    oomed.status.containerStatuses[0].containerID = `containerd://${hex('f6')}`;
    server.modifyPod(oomed);
    await eventually(() => (kills() === 1 ? true : undefined), 5000, 'one kubelet OOM termination');
    // The same status again (a readiness flip), then a relist after the watch expired: still one.
    oomed.status.conditions[2].status = 'False';
    server.modifyPod(oomed);
    server.expire();
    await eventually(
      () =>
        server.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null).length === 2
          ? true
          : undefined,
      5000,
      'a relist',
    );
    await eventually(() => (server.activeWatches === 1 ? true : undefined));
    expect(kills()).toBe(1);
    expect(valueOf(scrape(s), 'oomwatch_pod_container_restarts_total', app)).toBe(4);
  });

  it('resumes from the last bookmark after a dropped connection, without listing again', async () => {
    server.addPod(cartPod());
    const table = new ContainerTable();
    discovered(table, [APP]);
    const s = await startSource(table);
    await eventually(() => (s.up && server.activeWatches === 1 ? true : undefined));
    server.bookmark();
    const bookmarkRv = server.resourceVersion;
    await new Promise((r) => setTimeout(r, 200));
    const watchesBefore = server.watchCount;
    server.dropWatches();
    await eventually(
      () => (server.watchCount > watchesBefore && server.activeWatches === 1 ? true : undefined),
      5000,
      'a new watch',
    );
    const rewatch = server.requests.filter((r) => r.query.get('watch') === 'true').at(-1)!;
    expect(rewatch.query.get('resourceVersion')).toBe(bookmarkRv);
    expect(
      server.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null),
    ).toHaveLength(1);
    // A pod change made while the connection was down arrives through the new watch.
    const renamed = cartPod();
    renamed.metadata.name = 'cart-renamed';
    server.modifyPod(renamed);
    await eventually(
      () => (table.get(APP)?.labels.pod === 'cart-renamed' ? true : undefined),
      5000,
      'the change',
    );
    expect(s.up).toBe(true);
    expect(valueOf(scrape(s), 'oomwatch_kubernetes_watch_restarts_total', { reason: 'error' })).toBe(1);
  });

  it('on 410 Gone lists again and forgets pods deleted meanwhile', async () => {
    server.addPod(cartPod());
    const crio = server.addPod(podFixture('pod-guaranteed-crio.json', { node: NODE }));
    const table = new ContainerTable();
    const s = await startSource(table, undefined, { seriesGraceMs: 0 });
    await eventually(() => (s.up && server.activeWatches === 1 ? true : undefined));
    expect(valueOf(scrape(s), 'oomwatch_kubernetes_pods')).toBe(2);

    // The pod is deleted while the watch is being expired: the relist is what tells.
    server.dropWatches();
    server.deletePod(crio.metadata.uid);
    server.expire();
    await eventually(
      () => (valueOf(scrape(s), 'oomwatch_kubernetes_pods') === 1 ? true : undefined),
      5000,
      'the deletion',
    );
    expect(
      valueOf(scrape(s), 'oomwatch_kubernetes_watch_restarts_total', { reason: 'expired' }),
    ).toBeGreaterThanOrEqual(1);
    expect(valueOf(scrape(s), 'oomwatch_kubernetes_pod_lists_total')).toBeGreaterThanOrEqual(2);
    // Gauges of a deleted pod go at once; its counters stay for the series grace (0 here) until the sweep.
    expect(
      valueOf(scrape(s), 'oomwatch_pod_container_memory_request_bytes', { pod: 'db-0' }),
    ).toBeUndefined();
  });

  it('the ERROR event a watch from a compacted resourceVersion gets is the fixture, and triggers a relist', async () => {
    const errorEvent = JSON.parse(
      fs.readFileSync(path.join(FIXTURES, 'watch-error-410-expired.json'), 'utf8'),
    );
    expect(errorEvent.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    server.addPod(cartPod());
    const table = new ContainerTable();
    const s = await startSource(table);
    await eventually(() => (s.up && server.activeWatches === 1 ? true : undefined));
    server.expire();
    await eventually(
      () =>
        server.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null).length >=
          2 && server.activeWatches === 1
          ? true
          : undefined,
      5000,
      'relist and watch again',
    );
    const last = server.requests.filter((r) => r.query.get('watch') === 'true').at(-1)!;
    expect(Number(last.query.get('resourceVersion'))).toBeGreaterThanOrEqual(
      Number(server.resourceVersion) - 1,
    );
  });

  it('backs off while the API server fails, is down meanwhile, and comes back', async () => {
    server.addPod(cartPod());
    server.failNext('GET', '/api/v1/pods', 503, 3);
    const { log, lines } = capture();
    const table = new ContainerTable();
    const s = await startSource(table, log);
    expect(s.up).toBe(false);
    await eventually(() => (s.up ? true : undefined), 10_000, 'recovery');
    const lists = server.requests.filter((r) => r.path === '/api/v1/pods');
    expect(lists.length).toBeGreaterThanOrEqual(4);
    // Exponential: each wait at least as long as the one before (50, 100, 200 ms with +-20 % jitter).
    const gaps = lists.slice(1, 4).map((r, i) => r.atMs - (lists[i] as { atMs: number }).atMs);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    // One warning for the streak, naming the fix, not one per attempt.
    const warnings = lines().filter((l) => l['level'] === 40);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!['msg'])).toMatch(/retrying with backoff/);
  });

  it('follows continue tokens through a paginated list', async () => {
    server.pageSize = 1;
    server.addPod(cartPod());
    server.addPod(podFixture('pod-guaranteed-crio.json', { node: NODE }));
    server.addPod(podFixture('pod-static-mirror.json', { node: NODE }));
    const table = new ContainerTable();
    const s = await startSource(table);
    await eventually(() => (s.up ? true : undefined));
    expect(valueOf(scrape(s), 'oomwatch_kubernetes_pods')).toBe(3);
    const lists = server.requests.filter((r) => r.path === '/api/v1/pods' && r.query.get('watch') === null);
    expect(lists).toHaveLength(3);
    expect(lists[1]!.query.get('continue')).toBeTruthy();
    expect(lists[1]!.query.get('resourceVersion')).toBeNull();
  });

  it("matches a static pod's cgroup (kubelet config hash) to its mirror pod", async () => {
    const id = hex('9e');
    server.addPod(podFixture('pod-static-mirror.json', { node: NODE, ids: { 'node-cache': id } }));
    const table = new ContainerTable();
    const entry = table.ensure(id);
    entry.setPath(
      containerFromCgroupPath(
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5b1f3e0c9a8d7e6f5a4b3c2d1e0f9a8b.slice/cri-containerd-${id}.scope`,
      )!,
    );
    const pause = table.ensure(hex('8d'));
    pause.setPath(
      containerFromCgroupPath(
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5b1f3e0c9a8d7e6f5a4b3c2d1e0f9a8b.slice/cri-containerd-${hex('8d')}.scope`,
      )!,
    );
    const s = await startSource(table);
    await eventually(() => (s.up ? true : undefined));
    expect(entry.labels).toMatchObject({
      namespace: 'kube-system',
      pod: 'node-cache-worker-3',
      container: 'node-cache',
    });
    expect(pause.sandbox).toBe(true);
  });

  it('corrects the runtime of a bare cgroupfs id from the docker:// container id', async () => {
    const id = hex('7c');
    server.addPod(
      podFixture('pod-guaranteed-crio.json', { node: NODE, ids: { postgres: id }, runtime: 'docker' }),
    );
    const table = new ContainerTable();
    discovered(table, [id], '7c1e5a90-3b2d-4f1e-a6c8-2d4f6b8a0c1e');
    expect(table.get(id)?.path?.runtime).toBe('containerd');
    const s = await startSource(table);
    await eventually(() => (s.up ? true : undefined));
    expect(table.get(id)?.path?.runtime).toBe('docker');
    expect(table.get(id)?.infoLabelText).toContain('runtime="docker"');
  });
});

describe('cluster configuration', () => {
  it.each([
    [['--kubeconfig', '/etc/oomwatch/kubeconfig', '--node-name', 'n1'], {}, '/etc/oomwatch/kubeconfig', 'n1'],
    [[], { KUBECONFIG: '/root/.kube/config', NODE_NAME: 'n2' }, '/root/.kube/config', 'n2'],
    [[], {}, undefined, undefined],
  ])('flags %j and environment %j: kubeconfig %s, node %s', (argv, env, kubeconfig, node) => {
    const c = loadConfig(argv, env);
    expect(c.kubeconfig).toBe(kubeconfig);
    expect(c.nodeName).toBe(node);
    expect(c.k8sEvents).toBe(true);
    expect(loadConfig(['--k8s-events=false'], env).k8sEvents).toBe(false);
  });

  it.each([
    [{ kubeconfig: '/a/missing:/b/also-missing' }, { kind: 'kubeconfig', file: '/a/missing' }],
    [{ kubeconfig: '/etc/k' }, { kind: 'kubeconfig', file: '/etc/k' }],
  ])('chooseCluster(%j): an explicit kubeconfig wins', (opts, want) => {
    expect(
      chooseCluster({
        ...opts,
        env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      }),
    ).toEqual(want);
  });

  it('in a pod without a mounted token (automountServiceAccountToken: false): off, and says why', () => {
    const choice = chooseCluster({
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountPrefix: '/nonexistent',
    });
    expect(choice).toEqual({
      kind: 'none',
      why: expect.stringMatching(/no service account token .*automountServiceAccountToken/),
    });
  });

  const config = (over: Partial<Config> = {}): Config =>
    ({ nodeName: NODE, k8sEvents: true, seriesGraceMs: 60_000, ...over }) as Config;
  const deps = () => {
    const table = new ContainerTable();
    const { log, lines } = capture();
    const kills = new OomLedger({ table, log, matchWindowMs: 5000, kmsgUp: () => false });
    return { table, log, lines, kills };
  };

  it('without a cluster the source is off and says so once, at info', async () => {
    const d = deps();
    const source = await setUpKubernetes({ config: config(), ...d, env: {} });
    expect(source).toBeUndefined();
    const info = d.lines().filter((l) => String(l['msg']).startsWith('Kubernetes source off'));
    expect(info).toHaveLength(1);
    expect(info[0]!['level']).toBe(30);
    expect(info[0]!['why']).toMatch(/no KUBERNETES_SERVICE_HOST.*KUBECONFIG/);
  });

  it('a missing kubeconfig, or no node name in a pod, is a source that is down, with the fix in the log', async () => {
    const d = deps();
    const missing = await setUpKubernetes({
      config: config({ kubeconfig: '/nonexistent/kubeconfig' }),
      ...d,
      env: {},
    });
    expect(missing?.source.name).toBe('kubernetes');
    expect(missing?.source.up).toBe(false);
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-sa-'));
    fs.mkdirSync(path.join(prefix, SERVICE_ACCOUNT_DIR), { recursive: true });
    fs.writeFileSync(path.join(prefix, SERVICE_ACCOUNT_DIR, 'token'), TOKEN);
    const noNode = await setUpKubernetes({
      config: config({ nodeName: undefined }),
      ...d,
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountPrefix: prefix,
    });
    fs.rmSync(prefix, { recursive: true, force: true });
    expect(noNode?.source.up).toBe(false);
    const errors = d
      .lines()
      .filter((l) => l['level'] === 50)
      .map((l) => String(l['msg']));
    expect(errors).toEqual([
      expect.stringMatching(
        /kubeconfig \/nonexistent\/kubeconfig does not exist: pass the path .* --kubeconfig/,
      ),
      expect.stringMatching(/node name is unknown\. Set NODE_NAME .*fieldRef spec\.nodeName/),
    ]);
  });

  it('a kubeconfig without a node name (KUBECONFIG exported for kubectl on a host that is no node): off, at info', async () => {
    const d = deps();
    const source = await setUpKubernetes({
      config: config({ kubeconfig: '/root/.kube/config', nodeName: undefined }),
      ...d,
      env: {},
    });
    expect(source).toBeUndefined();
    expect(d.lines().map((l) => [l['level'], l['msg']])).toEqual([
      [30, expect.stringMatching(/^Kubernetes source off: a kubeconfig is set but no node name/)],
    ]);
  });

  it('in a pod: the service account token and CA at the standard path, KUBERNETES_SERVICE_HOST/PORT', async () => {
    const server = new FakeApiServer({ tls: true, token: TOKEN });
    await server.start();
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-sa-'));
    try {
      const sa = path.join(prefix, SERVICE_ACCOUNT_DIR);
      fs.mkdirSync(sa, { recursive: true });
      fs.writeFileSync(path.join(sa, 'token'), TOKEN);
      fs.copyFileSync(path.join(FIXTURES, 'tls', 'ca.crt'), path.join(sa, 'ca.crt'));
      fs.writeFileSync(path.join(sa, 'namespace'), 'oomwatch');
      server.addPod(cartPod());
      const d = deps();
      discovered(d.table, [APP]);
      const port = new URL(server.url).port;
      const source = await setUpKubernetes({
        config: config(),
        ...d,
        env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port },
        serviceAccountPrefix: prefix,
      });
      expect(source?.source.name).toBe('kubernetes');
      await source!.source.start();
      try {
        await eventually(() => (source!.source.up ? true : undefined), 10_000, 'in-cluster list');
        expect(d.table.get(APP)?.labels.pod).toBe('cart-7d9f8b6c5d-x2x9q');
        expect(server.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
        const renderer = new MetricsRenderer(
          d.table,
          new SelfMetrics({ processMetrics: false }),
          kubernetesFamilies(source!),
        );
        const text = await renderer.render('prometheus');
        expect(
          valueOf(parseExposition(text), 'oomwatch_pod_container_restarts_total', { container: 'app' }),
        ).toBe(3);
      } finally {
        await source!.source.stop();
      }
    } finally {
      await server.stop();
      fs.rmSync(prefix, { recursive: true, force: true });
    }
  });
});
