import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { OomLedger } from '../../../src/accounting/ledger';
import type { KernelOomKill } from '../../../src/accounting/observations';
import { containerFromCgroupPath } from '../../../src/cgroup/container-path';
import { ExpositionWriter } from '../../../src/metrics/exposition';
import type { Config } from '../../../src/config';
import { MetricsRenderer } from '../../../src/metrics/render';
import { SelfMetrics } from '../../../src/metrics/self';
import { setUpKubernetes } from '../../../src/sources/kubernetes';
import { chooseCluster, loadClient } from '../../../src/sources/kubernetes/client';
import { type EventWriterOptions, OomEventWriter, bytesText } from '../../../src/sources/kubernetes/events';
import { KubernetesPodSource } from '../../../src/sources/kubernetes/pod-source';
import { ContainerTable } from '../../../src/state/containers';
import { eventually } from '../../helpers/daemon';
import { FakeApiServer, type Json, podFixture, writeKubeconfig } from '../../helpers/fake-apiserver';
import { parseExposition, valueOf } from '../../helpers/prom';
import { kubernetesEventFamilies, kubernetesFamilies } from '../../../src/metrics/kubernetes-families';

/**
 * OOMKilling Events: the real ledger counts kills (kernel-log records and cgroup counter deltas), the writer
 * posts them through @kubernetes/client-node to the test API server, which validates them as the API server
 * validates core/v1 Events and records every create and patch.
 */

const NODE = 'worker-3';
const hex = (seed: string): string => seed.repeat(64).slice(0, 64);
const APP = hex('a1');
const SHIPPER = hex('b2');
const SANDBOX = hex('c3');
const UID = '0f7e3c2a-9d1b-4c5e-8f6a-7b8c9d0e1f2a';
const POD = 'cart-7d9f8b6c5d-x2x9q';
const cgroupOf = (id: string): string => `/kubepods/burstable/pod${UID}/${id}`;

let seq = 1;
function kernelKill(id: string | undefined, over: Partial<KernelOomKill> = {}): KernelOomKill {
  const k: KernelOomKill = {
    bootId: 'boot-1',
    seq: seq++,
    timeMs: Date.now(),
    trigger: 'cgroup',
    victim: {
      pid: 4242,
      comm: 'python3',
      totalVmBytes: 300 * 2 ** 20,
      anonRssBytes: 251 * 2 ** 20,
      fileRssBytes: 3 * 2 ** 20,
      shmemRssBytes: 0,
      uid: 1000,
      oomScoreAdj: 968,
    },
    ...over,
  };
  if (id !== undefined && !('taskMemcg' in over)) {
    k.taskMemcg = cgroupOf(id);
    k.oomMemcg = cgroupOf(id);
  }
  return k;
}

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

describe('OOMKilling Events', () => {
  let server: FakeApiServer;
  let dir: string;
  let pods: KubernetesPodSource;
  let writer: OomEventWriter;
  let ledger: OomLedger;
  let table: ContainerTable;
  let logs: ReturnType<typeof capture>;

  async function setUp(writerOpts: Partial<EventWriterOptions> = {}): Promise<void> {
    server = new FakeApiServer({ tls: true, token: 'tok' });
    await server.start();
    server.addPod(
      podFixture('pod-burstable-containerd.json', {
        node: NODE,
        uid: UID,
        ids: { app: APP, 'log-shipper': SHIPPER },
      }),
    );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-k8s-events-'));
    const choice = chooseCluster({
      kubeconfig: writeKubeconfig(path.join(dir, 'kubeconfig'), server.url, { token: 'tok' }),
      env: {},
    });
    if (choice.kind === 'none') throw new Error(choice.why);
    const client = await loadClient(choice);
    logs = capture();
    table = new ContainerTable();
    for (const id of [APP, SHIPPER, SANDBOX])
      table.ensure(id).setPath(containerFromCgroupPath(cgroupOf(id))!);
    ledger = new OomLedger({ table, log: logs.log, matchWindowMs: 5000, kmsgUp: () => true });
    pods = new KubernetesPodSource({
      client,
      table,
      nodeName: NODE,
      log: logs.log,
      seriesGraceMs: 60_000,
      watchTimeoutSeconds: 60,
    });
    writer = new OomEventWriter({
      client,
      pods,
      nodeName: NODE,
      log: logs.log,
      victimWaitMs: 300,
      minWriteIntervalMs: 300,
      startupGraceMs: 0,
      ...writerOpts,
    });
    ledger.onKill((record, entry, change) => writer.onKill(record, entry, change));
    writer.start();
    await pods.start();
    await eventually(() => (pods.up ? true : undefined), 10_000, 'pods listed');
  }

  afterEach(async () => {
    await writer?.stop();
    await pods?.stop();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const oomEvents = (): Json[] => server.eventsWithReason('OOMKilling');
  const metric = (result: string): number | undefined => {
    const w = new ExpositionWriter('prometheus');
    kubernetesEventFamilies(writer)(w);
    return valueOf(parseExposition(w.finish()), 'oomwatch_kubernetes_oom_events_total', { result });
  };

  it("a kill in a pod's container is a Warning Event on the Pod, as kubectl get events shows it", async () => {
    await setUp();
    const before = Date.now();
    ledger.onKernelKill(kernelKill(APP));
    const [event] = await eventually(
      () => (oomEvents().length === 1 ? oomEvents() : undefined),
      5000,
      'the Event',
    );
    expect(event).toMatchObject({
      kind: 'Event',
      apiVersion: 'v1',
      metadata: { namespace: 'shop' },
      involvedObject: {
        kind: 'Pod',
        namespace: 'shop',
        name: POD,
        uid: UID,
        apiVersion: 'v1',
        fieldPath: 'spec.containers{app}',
      },
      reason: 'OOMKilling',
      type: 'Warning',
      count: 1,
      source: { component: 'oomwatch', host: NODE },
      reportingComponent: 'oomwatch',
      reportingInstance: NODE,
    });
    expect(event.metadata.name).toMatch(new RegExp(`^${POD}\\.[0-9a-f]+$`));
    expect(event.message).toBe(
      'Memory cgroup out of memory: killed process 4242 (python3), rss 254Mi (anon 251Mi, file 3Mi, shmem 0) in container app, memory limit 256Mi',
    );
    expect(Date.parse(event.firstTimestamp)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(event.lastTimestamp).toBe(event.firstTimestamp);
    expect(event.eventTime).toBeUndefined();
    // What went over the wire: a POST of the Event, no patch.
    expect(server.eventWrites.map((w) => w.op)).toEqual(['create']);
    expect(metric('created')).toBe(1);
  });

  it('waits for the kernel log to name the victim of a kill a cgroup counter counted first', async () => {
    await setUp({ victimWaitMs: 1500 });
    const entry = table.get(APP)!;
    const t = Date.now();
    ledger.onCgroupOomKills(entry, 1, { readAtMs: t }, t - 2000);
    await new Promise((r) => setTimeout(r, 400));
    ledger.onKernelKill(kernelKill(APP, { timeMs: t - 300 }));
    const [event] = await eventually(
      () => (oomEvents().length === 1 ? oomEvents() : undefined),
      5000,
      'the Event',
    );
    expect(event.message).toContain('killed process 4242 (python3)');
    expect(event.count).toBe(1);
  });

  it('repeated kills of one container aggregate into the count of one Event (PATCH count and lastTimestamp)', async () => {
    await setUp();
    ledger.onKernelKill(kernelKill(APP));
    await eventually(() => (oomEvents().length === 1 ? true : undefined), 5000, 'the first Event');
    // Four more kills in a burst: one more write, or two, never four.
    for (let i = 0; i < 4; i++)
      ledger.onKernelKill(
        kernelKill(APP, {
          timeMs: Date.now() + 1000 + i,
          victim: { pid: 5000 + i, comm: 'python3', anonRssBytes: 2 ** 28 },
        }),
      );
    const [event] = await eventually(
      () => (oomEvents()[0]?.count === 5 ? oomEvents() : undefined),
      5000,
      'count 5',
    );
    expect(oomEvents()).toHaveLength(1);
    const patches = server.eventWrites.filter((w) => w.op === 'patch');
    expect(patches.length).toBeGreaterThanOrEqual(1);
    expect(patches.length).toBeLessThanOrEqual(2);
    for (const p of patches) {
      expect(p.contentType).toBe('application/strategic-merge-patch+json');
      expect(p.name).toBe(event.metadata.name);
      expect(Object.keys(p.body).sort()).toEqual(['count', 'lastTimestamp', 'message']);
    }
    expect(event.message).toContain('killed process 5003 (python3), rss 256Mi');
    expect(Date.parse(event.lastTimestamp)).toBeGreaterThan(Date.parse(event.firstTimestamp));
    // Another container of the pod: its own Event.
    ledger.onKernelKill(kernelKill(SHIPPER));
    await eventually(
      () => (oomEvents().length === 2 ? true : undefined),
      5000,
      "the other container's Event",
    );
    expect(
      oomEvents().find((e) => e.involvedObject.fieldPath === 'spec.containers{log-shipper}')?.count,
    ).toBe(1);
  });

  it('a kill after the aggregation window has closed starts a new Event', async () => {
    await setUp({ windowMs: 600 });
    ledger.onKernelKill(kernelKill(APP));
    await eventually(() => (oomEvents().length === 1 ? true : undefined), 5000, 'the first Event');
    await new Promise((r) => setTimeout(r, 900));
    ledger.onKernelKill(kernelKill(APP, { timeMs: Date.now() }));
    await eventually(() => (oomEvents().length === 2 ? true : undefined), 5000, 'a second Event');
    expect(oomEvents().map((e) => e.count)).toEqual([1, 1]);
    expect(server.eventWrites.map((w) => w.op)).toEqual(['create', 'create']);
  });

  it('a system OOM is an Event on the Node, and on the pod whose container lost a process', async () => {
    await setUp();
    ledger.onKernelKill(
      kernelKill(APP, { trigger: 'system', oomMemcg: undefined } as Partial<KernelOomKill>),
    );
    await eventually(() => (oomEvents().length === 2 ? true : undefined), 5000, 'two Events');
    const node = oomEvents().find((e) => e.involvedObject.kind === 'Node');
    expect(node).toMatchObject({
      metadata: { namespace: 'default' },
      involvedObject: { kind: 'Node', name: NODE, uid: NODE, apiVersion: 'v1' },
      reason: 'OOMKilling',
      type: 'Warning',
      source: { component: 'oomwatch', host: NODE },
    });
    expect(node.involvedObject.namespace).toBeUndefined();
    expect(node.message).toBe(
      `System OOM (the node ran out of memory): killed process 4242 (python3), rss 254Mi (anon 251Mi, file 3Mi, shmem 0) of pod shop/${POD} container app`,
    );
    const pod = oomEvents().find((e) => e.involvedObject.kind === 'Pod');
    expect(pod.message).toMatch(/^System OOM \(the node ran out of memory\): killed process 4242/);
    // A system OOM whose victim is outside any container: the Node's Event alone.
    ledger.onKernelKill(
      kernelKill(undefined, {
        trigger: 'system',
        taskMemcg: '/system.slice/mysqld.service',
        victim: { pid: 811, comm: 'mysqld', anonRssBytes: 1.5 * 2 ** 30 },
      }),
    );
    await eventually(
      () => (oomEvents().find((e) => e.involvedObject.kind === 'Node')?.count === 2 ? true : undefined),
      5000,
      'the Node Event counted twice',
    );
    expect(oomEvents().find((e) => e.involvedObject.kind === 'Node').message).toBe(
      'System OOM (the node ran out of memory): killed process 811 (mysqld), rss 1.5Gi (anon 1.5Gi, file 0, shmem 0)',
    );
  });

  it('stopping writes what is pending at once: a kill still waiting for its victim, a count not yet patched', async () => {
    await setUp({ victimWaitMs: 60_000, minWriteIntervalMs: 60_000 });
    ledger.onKernelKill(kernelKill(APP));
    await writer.stop();
    expect(oomEvents()).toHaveLength(1);
    expect(oomEvents()[0].count).toBe(1);
  });

  it('creates the Event again when the API server has expired it (PATCH 404)', async () => {
    await setUp();
    ledger.onKernelKill(kernelKill(APP));
    const [first] = await eventually(
      () => (oomEvents().length === 1 ? oomEvents() : undefined),
      5000,
      'the Event',
    );
    server.expireEvent('shop', first.metadata.name);
    ledger.onKernelKill(kernelKill(APP, { timeMs: Date.now() + 1000 }));
    const [again] = await eventually(
      () =>
        oomEvents().length === 1 && oomEvents()[0].metadata.name !== first.metadata.name
          ? oomEvents()
          : undefined,
      5000,
      'a new Event',
    );
    expect(again.count).toBe(2);
    expect(server.eventWrites.map((w) => w.op)).toEqual(['create', 'patch', 'create']);
  });

  it('nothing for the sandbox, for kills outside pods, or for kills from before oomwatch started', async () => {
    await setUp();
    expect(table.get(SANDBOX)?.sandbox).toBe(true);
    ledger.onKernelKill(kernelKill(SANDBOX));
    ledger.onKernelKill(kernelKill(undefined, { taskMemcg: `/docker/${hex('d4')}` }));
    ledger.onKernelKill(kernelKill(undefined, { taskMemcg: '/system.slice/cron.service' }));
    ledger.onKernelKill(kernelKill(APP, { timeMs: Date.now() - 3_600_000 })); // replayed from the kernel log cursor
    await new Promise((r) => setTimeout(r, 1200));
    expect(server.eventWrites).toEqual([]);
  });

  it('kills counted from cgroup counters right after start are not posted: their time is unknown', async () => {
    await setUp({ startupGraceMs: 60_000 });
    const entry = table.get(APP)!;
    ledger.onCgroupOomKills(entry, 2, { readAtMs: Date.now() }, undefined);
    await new Promise((r) => setTimeout(r, 1000));
    expect(server.eventWrites).toEqual([]);
  });

  it('the spam filter: new Events per pod draw from a token bucket', async () => {
    await setUp({ burst: 1, refillPerMs: 0 });
    ledger.onKernelKill(kernelKill(APP));
    ledger.onKernelKill(kernelKill(SHIPPER));
    await eventually(() => (metric('rate_limited') === 1 ? true : undefined), 5000, 'one dropped');
    await eventually(() => (oomEvents().length === 1 ? true : undefined), 5000, 'one Event');
    // Kills of the container that has its Event are still counted into it.
    ledger.onKernelKill(kernelKill(APP, { timeMs: Date.now() + 1000 }));
    await eventually(() => (oomEvents()[0]?.count === 2 ? true : undefined), 5000, 'count 2');
  });

  it('without RBAC for events: the write is dropped, counted, and the log names the fix', async () => {
    await setUp();
    server.failNext('POST', '/api/v1/namespaces/shop/events', 403);
    ledger.onKernelKill(kernelKill(APP));
    await eventually(() => (metric('failed') === 1 ? true : undefined), 5000, 'failed');
    const warn = logs.lines().find((l) => String(l['msg']).includes('writing a Kubernetes Event failed'));
    expect(String(warn?.['msg'])).toMatch(/apply deploy\/kubernetes\/rbac\.yaml/);
  });

  it('retries a write the API server failed with a 5xx', async () => {
    await setUp();
    server.failNext('POST', '/api/v1/namespaces/shop/events', 503, 1);
    ledger.onKernelKill(kernelKill(APP));
    await eventually(() => (oomEvents().length === 1 ? true : undefined), 10_000, 'the Event after a retry');
    const posts = server.requests.filter(
      (r) => r.method === 'POST' && r.path === '/api/v1/namespaces/shop/events',
    );
    expect(posts).toHaveLength(2); // the failed one, then the retry
    expect(posts[1]!.atMs - posts[0]!.atMs).toBeGreaterThanOrEqual(250);
  });
});

describe('--k8s-events=false', () => {
  it('counts kills but writes no Event', async () => {
    const server = new FakeApiServer();
    await server.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-k8s-noevents-'));
    try {
      server.addPod(podFixture('pod-burstable-containerd.json', { node: NODE, uid: UID, ids: { app: APP } }));
      const table = new ContainerTable();
      table.ensure(APP).setPath(containerFromCgroupPath(cgroupOf(APP))!);
      const { log, lines } = capture();
      const ledger = new OomLedger({ table, log, matchWindowMs: 5000, kmsgUp: () => true });
      const config = {
        nodeName: NODE,
        k8sEvents: false,
        seriesGraceMs: 60_000,
        kubeconfig: writeKubeconfig(path.join(dir, 'kubeconfig'), server.url),
      } as Config;
      const setup = await setUpKubernetes({ config, table, kills: ledger, log, env: {} });
      const source = setup!.source;
      const renderer = new MetricsRenderer(
        table,
        new SelfMetrics({ processMetrics: false }),
        kubernetesFamilies(setup!),
      );
      await source.start();
      try {
        await eventually(() => (source.up ? true : undefined), 10_000, 'source up');
        ledger.onKernelKill(kernelKill(APP));
        await new Promise((r) => setTimeout(r, 2000)); // past the writer's victim wait, had there been one
        expect(table.get(APP)?.oomKills).toBe(1);
        expect(server.eventWrites).toEqual([]);
        expect(lines().some((l) => l['msg'] === 'Kubernetes Events off (--k8s-events=false)')).toBe(true);
        expect(await renderer.render('prometheus')).not.toContain('oomwatch_kubernetes_oom_events_total');
      } finally {
        await source.stop();
      }
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bytesText', () => {
  it.each([
    [0, '0'],
    [512, '512'],
    [1024, '1Ki'],
    [256 * 2 ** 20, '256Mi'],
    [255.8 * 2 ** 20, '255.8Mi'],
    [1.5 * 2 ** 30, '1.5Gi'],
  ])('%d bytes is %s', (n, want) => {
    expect(bytesText(n)).toBe(want);
  });
});
