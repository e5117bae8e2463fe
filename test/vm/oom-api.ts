import type { PromSample } from '../helpers/prom';
import { valueOf } from '../helpers/prom';
import type { VmContainer } from './containers';
import { shortId } from './containers';
import type { ScenarioRun } from './vm';

/** An event of GET /api/v1/oom-events, as the suites read it. */
export interface OomEvent {
  time: string;
  scope: 'container' | 'system' | 'other';
  trigger: string | null;
  container: { id: string } | null;
  cgroup: string | null;
  victim: { pid: number | null; comm: string | null; rss_bytes: number | null } | null;
  group_kill: boolean;
  sources: string[];
}

/** The events of the reported /api/v1/oom-events response `name` whose container is `c`. */
export function eventsOf(run: ScenarioRun, name: string, c: VmContainer): OomEvent[] {
  return run.json<{ events: OomEvent[] }>(name).events.filter((e) => e.container?.id === c.id);
}

/** A per-container series of a scrape, by the container's short id. */
export function containerValue(samples: PromSample[], family: string, c: VmContainer): number | undefined {
  return valueOf(samples, `oomwatch_container_${family}`, { id: shortId(c) });
}
