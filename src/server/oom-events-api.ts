import type { FastifyInstance } from 'fastify';
import { parseSince } from '../flags';
import { type OomKill, oomKillJson } from '../state/oom-kill';
import type { EventQuery, StateQueries } from '../state/queries';

/**
 * GET /api/v1/oom-events: the OOM event log, newest first.
 *   ?since=2026-11-28T01:00:00Z | 10m | 2h   only events at or after that time
 *   ?container=<name | id prefix | pod>       only that container's events
 *   ?limit=N                                  at most N (default 100, at most 1000)
 */
export function oomEventsRoute(state: StateQueries, recent: () => readonly OomKill[]) {
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

      const events = state.store.up ? state.queryOomEvents(query) : filterRecent(recent(), query);
      return reply.send({ events: events.map(oomKillJson) });
    });
  };
}

function filterRecent(events: readonly OomKill[], q: EventQuery): OomKill[] {
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
