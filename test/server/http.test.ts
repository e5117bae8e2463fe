import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { detectLayout } from '../../src/cgroup/layout';
import { FdBudget } from '../../src/cgroup/reader';
import { silentLogger } from '../../src/log';
import { MetricsRenderer } from '../../src/metrics/render';
import { SelfMetrics } from '../../src/metrics/self';
import { Poller } from '../../src/sources/cgroup-poller';
import { buildServer } from '../../src/server/server';
import { ContainerTable } from '../../src/state/containers';
import { FIXTURES } from '../helpers/paths';

/**
 * The HTTP endpoints in-process, listening on a loopback port and asked with fetch, backed by a real Poller
 * over the v1 fixture tree: /readyz follows the first complete poll, /metrics negotiates the format like
 * Prometheus does.
 */
const TREE = path.join(FIXTURES, 'cgroup', 'v1');

interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

async function setUp(): Promise<{
  app: FastifyInstance;
  poller: Poller;
  get: (url: string, accept?: string) => Promise<Answer>;
}> {
  const layout = detectLayout(TREE);
  const table = new ContainerTable();
  const self = new SelfMetrics({ processMetrics: false });
  const poller = new Poller({
    layout,
    table,
    budget: new FdBudget(256),
    log: silentLogger(),
    report: self,
    intervalMs: 3_600_000,
    seriesGraceMs: 600_000,
  });
  self.addSource(poller);
  const app = buildServer({
    renderer: new MetricsRenderer(table, self),
    ready: () => poller.ready,
    log: silentLogger(),
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const get = async (url: string, accept?: string): Promise<Answer> => {
    const res = await fetch(`${base}${url}`, accept === undefined ? {} : { headers: { accept } });
    return { statusCode: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  };
  return { app, poller, get };
}

describe('/healthz and /readyz', () => {
  it('/readyz is 503 until the first complete poll, then 200; /healthz is 200 throughout', async () => {
    const { app, poller, get } = await setUp();
    try {
      const before = await get('/readyz');
      expect(before.statusCode).toBe(503);
      expect(before.body).toBe('not ready: the first poll of the cgroup tree has not completed\n');
      expect((await get('/healthz')).statusCode).toBe(200);
      // nothing has been read yet: no container series
      expect((await get('/metrics')).body).not.toContain('oomwatch_container_');

      await poller.pollOnce();

      const after = await get('/readyz');
      expect({ status: after.statusCode, body: after.body }).toEqual({ status: 200, body: 'ready\n' });
      expect((await get('/healthz')).body).toBe('ok\n');
      expect((await get('/metrics')).body).toContain('oomwatch_container_memory_usage_bytes{');
    } finally {
      await poller.stop();
      await app.close();
    }
  });
});

describe('/metrics content negotiation', () => {
  let app: FastifyInstance;
  let poller: Poller;
  let get: (url: string, accept?: string) => Promise<Answer>;
  beforeAll(async () => {
    ({ app, poller, get } = await setUp());
    await poller.pollOnce();
  });
  afterAll(async () => {
    await poller.stop();
    await app.close();
  });

  const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
  const OM = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

  it.each([
    ['no Accept header (curl)', undefined, TEXT],
    ['text/plain', 'text/plain', TEXT],
    ['*/*', '*/*', TEXT],
    [
      'Prometheus 2.x',
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      OM,
    ],
    [
      'Prometheus 3.x (protobuf first, which oomwatch does not speak)',
      'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1',
      OM,
    ],
    [
      'scrape_protocols with PrometheusText0.0.4 first',
      'text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,*/*;q=0.1',
      TEXT,
    ],
    ['OpenMetrics refused with q=0', 'application/openmetrics-text;q=0,text/plain;q=0.5', TEXT],
    ['OpenMetrics 0.0.1 alone', 'application/openmetrics-text; version=0.0.1', OM],
    ['a type oomwatch does not serve', 'application/json', TEXT],
  ])('%s', async (_who, accept, contentType) => {
    const res = await get('/metrics', accept);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(contentType);
    expect(res.body.endsWith('# EOF\n')).toBe(contentType === OM);
  });
});

/**
 * Each payload's buffer is released once its response is written out (MetricsRenderer.release): the next
 * scrape, and scrapes that overlap, must still get the whole payload.
 */
describe('/metrics scraped again and again', () => {
  let app: FastifyInstance;
  let poller: Poller;
  let get: (url: string, accept?: string) => Promise<Answer>;
  beforeAll(async () => {
    ({ app, poller, get } = await setUp());
    await poller.pollOnce();
  });
  afterAll(async () => {
    await poller.stop();
    await app.close();
  });

  it('gives the same body twice in a row', async () => {
    const first = await get('/metrics');
    const second = await get('/metrics');
    expect(first.body).toContain('oomwatch_container_memory_usage_bytes{');
    expect(second.body).toBe(first.body);
    expect(Number(second.headers['content-length'])).toBe(Buffer.byteLength(second.body));
  });

  it('gives every one of several overlapping scrapes, in both formats, its whole body', async () => {
    const om = 'application/openmetrics-text; version=1.0.0';
    const [text, openMetrics] = [(await get('/metrics')).body, (await get('/metrics', om)).body];
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => get('/metrics', i % 2 === 0 ? undefined : om)),
    );
    answers.forEach((a, i) => expect(a.body).toBe(i % 2 === 0 ? text : openMetrics));
  });
});
