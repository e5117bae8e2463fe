import type { FastifyInstance } from 'fastify';
import { parseDurationMs } from '../flags';
import type { EventQuery, StateStore, StoredOomEvent } from '../state/store';

/**
 * GET /api/v1/oom-events: the OOM event log, newest first.
 *   ?since=2026-11-28T01:00:00Z | 10m | 2h   only events at or after that time
 *   ?container=<name | id prefix | pod>       only that container's events
 *   ?limit=N                                  at most N (default 100, at most 1000)
 */
export function oomEventsRoute(store: StateStore, recent: () => StoredOomEvent[]) {
  return (app: FastifyInstance): void => {
    app.get('/api/v1/oom-events', async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const query: EventQuery = {};
      if (q['since'] !== undefined) {
        const since = parseSince(q['since']);
        if (since === undefined) {
          return reply.code(400).send({
            error: `since: expected an ISO 8601 time or a duration such as 10m, got "${q['since']}"`,
          });
        }
        query.sinceMs = since;
      }
      if (q['container'] !== undefined) query.container = q['container'];
      const limit = q['limit'] === undefined ? 100 : Number(q['limit']);
      if (!Number.isInteger(limit) || limit < 1)
        return reply.code(400).send({ error: `limit: expected a positive integer, got "${q['limit']}"` });
      query.limit = Math.min(limit, 1000);

      const events = store.up ? store.queryOomEvents(query) : filterRecent(recent(), query);
      return reply.send({ events: events.map(toApi) });
    });
  };
}

export function parseSince(text: string, now = Date.now()): number | undefined {
  const d = parseDurationMs(text);
  if (d !== undefined) return now - d;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

function filterRecent(events: StoredOomEvent[], q: EventQuery): StoredOomEvent[] {
  return events
    .filter((e) => q.sinceMs === undefined || e.timeMs >= q.sinceMs)
    .filter(
      (e) =>
        !q.container ||
        e.containerId?.startsWith(q.container) ||
        e.labels?.name === q.container ||
        e.labels?.pod === q.container,
    )
    .sort((a, b) => b.timeMs - a.timeMs)
    .slice(0, q.limit ?? 100);
}

export function toApi(e: StoredOomEvent): Record<string, unknown> {
  const v = e.victim as
    | {
        pid?: number;
        comm?: string;
        anonRssBytes?: number;
        fileRssBytes?: number;
        shmemRssBytes?: number;
        totalVmBytes?: number;
      }
    | undefined;
  const rss = v ? (v.anonRssBytes ?? 0) + (v.fileRssBytes ?? 0) + (v.shmemRssBytes ?? 0) : undefined;
  return {
    time: new Date(e.timeMs).toISOString(),
    time_exact: e.timeExact,
    scope: e.scope,
    trigger: e.trigger ?? null,
    container: e.containerId ? { ...e.labels, id: e.containerId } : null,
    cgroup: e.cgroup ?? null,
    victim: v
      ? {
          pid: v.pid ?? null,
          comm: v.comm ?? null,
          rss_bytes: rss ?? null,
          anon_rss_bytes: v.anonRssBytes ?? null,
          file_rss_bytes: v.fileRssBytes ?? null,
          shmem_rss_bytes: v.shmemRssBytes ?? null,
          total_vm_bytes: v.totalVmBytes ?? null,
        }
      : null,
    group_kill: e.groupKill,
    usage_bytes: e.usageBytes ?? null,
    limit_bytes: e.limitBytes ?? null,
    sources: e.sources,
  };
}
