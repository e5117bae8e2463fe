import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Fastify from 'fastify';
import { silentLogger } from '../../src/log';
import { oomEventsRoute } from '../../src/server/oom-events-api';
import { ContainerTable } from '../../src/state/containers';
import { Persistence } from '../../src/state/persistence';
import type { OomKill } from '../../src/state/oom-kill';
import { StateQueries } from '../../src/state/queries';
import { StateStore } from '../../src/state/store';

/**
 * The read queries the on-call commands and the event API run against the daemon's real SQLite file: written by the daemon's
 * own store and persistence code, read through a second, read-only StateStore as the CLI opens it.
 */
const HOUR = 3_600_000;
const MiB = 1024 * 1024;
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

describe('state database read queries', () => {
  let dir: string;
  let writer: StateStore;
  let readerStore: StateStore;
  let reader: StateQueries;
  const t0 = Math.floor(Date.UTC(2026, 10, 20, 0, 0, 0) / HOUR) * HOUR;

  const kill = (key: string, containerId: string | undefined, timeMs: number, name = ''): OomKill => ({
    key,
    timeMs,
    timeExact: true,
    scope: containerId ? 'container' : 'system',
    groupKill: false,
    sources: ['kmsg'],
    ...(containerId
      ? {
          containerId,
          labels: {
            id: containerId.slice(0, 12),
            name,
            image: '',
            compose_project: '',
            compose_service: '',
            namespace: '',
            pod: '',
            container: '',
          },
        }
      : {}),
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-cli-state-'));
    writer = new StateStore(dir, silentLogger());
    writer.open();
    readerStore = new StateStore(dir, silentLogger(), { readonly: true });
    readerStore.open();
    reader = new StateQueries(readerStore);
  });
  afterEach(async () => {
    await readerStore.stop();
    await writer.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('follows new events by id, oldest first, and finds a kill again when its victim is added', () => {
    expect(reader.lastEventIds()).toEqual({ oom: 0, exit: 0 });
    writer.upsertOomKill(kill('k1', A, t0, 'web'));
    writer.upsertOomKill(kill('k2', undefined, t0 + 1000));
    writer.insertExit({
      timeMs: t0 + 2000,
      containerId: A,
      labels: {
        id: A.slice(0, 12),
        name: 'web',
        image: '',
        compose_project: '',
        compose_service: '',
        namespace: '',
        pod: '',
        container: '',
      },
      exitCode: 137,
      oomKilled: true,
    });
    const start = reader.lastEventIds();
    expect(start).toEqual({ oom: 2, exit: 1 });
    expect(reader.oomEventsAfter(0).map((e) => e.key)).toEqual(['k1', 'k2']);
    expect(reader.oomEventsAfter(start.oom)).toEqual([]);
    writer.upsertOomKill(kill('k3', B, t0 + 3000));
    expect(reader.oomEventsAfter(start.oom).map((e) => e.key)).toEqual(['k3']);
    expect(reader.exitEventsAfter(0)).toMatchObject([
      { id: 1, containerId: A, exitCode: 137, oomKilled: true },
    ]);
    // The kernel log names the victim of k1 after it was counted: same row, same id.
    writer.upsertOomKill({
      ...kill('k1', A, t0, 'web'),
      victim: { pid: 42, comm: 'java', anonRssBytes: 100 },
    });
    expect(reader.oomEventsByIds([1])).toMatchObject([{ id: 1, key: 'k1', victim: { comm: 'java' } }]);
  });

  it("keeps the victim's oom_score_adj in the event log; the API gives it, or null where the kernel did not print it", async () => {
    writer.upsertOomKill({
      ...kill('k1', A, t0, 'web'),
      victim: { pid: 42, comm: 'node', uid: 0, anonRssBytes: 100, shmemRssBytes: 0, oomScoreAdj: 969 },
    });
    writer.upsertOomKill({ ...kill('k2', A, t0 + 1000, 'web'), victim: { pid: 43, comm: 'java' } });
    writer.upsertOomKill(kill('k3', A, t0 + 2000, 'web')); // counted from the cgroup counter: no victim
    const app = Fastify();
    oomEventsRoute(reader, () => [])(app);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${url}/api/v1/oom-events`).finally(() => app.close());
    const { events } = (await res.json()) as {
      events: Array<{ victim: { comm: string; oom_score_adj: number | null } | null }>;
    };
    expect(events.map((e) => e.victim && [e.victim.comm, e.victim.oom_score_adj])).toEqual([
      null,
      ['java', null],
      ['node', 969],
    ]);
  });

  it('counts OOM kills per container in a window for top', () => {
    writer.upsertOomKill(kill('old', A, t0 - 2 * HOUR));
    writer.upsertOomKill(kill('k1', A, t0));
    writer.upsertOomKill(kill('k2', A, t0 + 60_000));
    writer.upsertOomKill(kill('sys', undefined, t0));
    expect([...reader.oomKillsByContainer(t0 - HOUR)]).toEqual([[A, { count: 2, lastMs: t0 + 60_000 }]]);
  });

  it('keeps an hourly peak history per container, by id or by Compose service, bounded by the retention', () => {
    const table = new ContainerTable();
    const persistence = new Persistence(writer, table, silentLogger());
    const web1 = table.ensure(A, t0);
    web1.applyMetadata({ name: 'shop-web-1', compose_project: 'shop', compose_service: 'web' });
    const db = table.ensure(C, t0);
    db.applyMetadata({ name: 'shop-db-1', compose_project: 'shop', compose_service: 'db' });
    // 30 days of polls every 20 minutes; web's working set peaks at 100 MiB + its day of the month.
    for (let t = t0; t < t0 + 30 * 24 * HOUR; t += 20 * 60_000) {
      const day = Math.floor((t - t0) / (24 * HOUR));
      web1.sample = { readAtMs: t, usage: (100 + day) * MiB, workingSet: (90 + day) * MiB, limit: 512 * MiB };
      db.sample = { readAtMs: t, usage: 300 * MiB, workingSet: 280 * MiB, limit: Infinity };
      persistence.afterPoll(t);
    }
    persistence.flush();
    const end = t0 + 30 * 24 * HOUR;
    const week = reader.peakHistory({ containerIds: [A], sinceMs: end - 7 * 24 * HOUR });
    expect(week).toHaveLength(7 * 24);
    expect(Math.max(...week.map((r) => r.working_set_peak_bytes ?? 0))).toBe(119 * MiB);
    expect(week[0]).toMatchObject({ container_id: A, limit_bytes: 512 * MiB, usage_peak_bytes: 123 * MiB });

    // A redeploy: the old container goes, the service's next one has a new id; its history is found through
    // the service.
    table.markGone(web1, end);
    const web2 = table.ensure(B, end);
    web2.applyMetadata({ name: 'shop-web-1', compose_project: 'shop', compose_service: 'web' });
    web2.sample = { readAtMs: end, usage: 50 * MiB, workingSet: 40 * MiB, limit: 512 * MiB };
    persistence.afterPoll(end);
    persistence.flush();
    const service = reader.peakHistory({
      containerIds: [B],
      service: { compose_project: 'shop', compose_service: 'web' },
      sinceMs: end - 7 * 24 * HOUR,
    });
    expect(new Set(service.map((r) => r.container_id))).toEqual(new Set([A, B]));
    expect(service.some((r) => r.container_id === C)).toBe(false);

    // serve prunes with now - --retention: nothing older is kept.
    const retention = 10 * 24 * HOUR;
    writer.prune(end - retention);
    const all = reader.peakHistory({ containerIds: [A, B, C], sinceMs: 0 });
    expect(Math.min(...all.map((r) => r.hour_ms))).toBeGreaterThanOrEqual(end - retention);
    expect(all.filter((r) => r.container_id === A)).toHaveLength(10 * 24);
    // The unlimited container's rows carry no limit.
    expect(all.find((r) => r.container_id === C)?.limit_bytes).toBeNull();
  });

  it('lists every known container and tells when the daemon last saved', () => {
    const table = new ContainerTable();
    const persistence = new Persistence(writer, table, silentLogger());
    const e = table.ensure(A, t0);
    e.applyMetadata({ name: 'web' });
    persistence.dirty(e);
    persistence.flush();
    expect(reader.listContainers().map((r) => r.id)).toEqual([A]);
    expect(reader.lastSavedMs()).toBe(t0);
    persistence.stop();
  });
});
