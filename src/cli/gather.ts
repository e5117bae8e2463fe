import type { ContainerPath } from '../cgroup/container-path';
import { discoverContainers } from '../cgroup/discover';
import type { CgroupLayout } from '../cgroup/layout';
import type { StateQueries } from '../state/queries';
import type { CliContext } from './context';
import { type DockerListed, DockerUnavailable } from './docker';
import { type Candidate, candidates, type KnownContainers } from './resolve';

/**
 * What the host knows about its containers right now, from each place that may be available: Docker, the
 * cgroup tree, the state database. A place that is not available is a warning that says what still works;
 * the command goes on with the others.
 */
export interface Gathered {
  layout?: CgroupLayout;
  store?: StateQueries;
  dockerUp: boolean;
  known: KnownContainers;
  all: Map<string, Candidate>;
  /** The places searched, for "no container matches" messages. */
  searched: string[];
}

export async function gatherContainers(
  ctx: CliContext,
  opts: { stateRequired: boolean; stateWhat: string; needCgroups: boolean },
): Promise<Gathered> {
  const searched: string[] = [];
  const layout = opts.needCgroups ? ctx.layout() : ctx.layoutOrWarn();
  let cgroups: Map<string, ContainerPath> | undefined;
  if (layout) {
    cgroups = discoverContainers(layout.memoryRoot);
    searched.push(`the cgroups under ${layout.memoryRoot}`);
  }
  const docker = await dockerList(ctx);
  if (docker) searched.push(`Docker's containers (running and stopped)`);
  const store = ctx.openState(opts.stateRequired, opts.stateWhat);
  const state = store?.listContainers();
  if (store) searched.push(`the state database ${ctx.stateFile}`);
  const known: KnownContainers = {};
  if (docker) known.docker = docker;
  if (cgroups) known.cgroups = cgroups;
  if (state) known.state = state;
  const out: Gathered = { dockerUp: docker !== undefined, known, all: candidates(known), searched };
  if (layout) out.layout = layout;
  if (store) out.store = store;
  return out;
}

/** Docker's container list, or undefined after one warning saying what still works without it. */
export async function dockerList(ctx: CliContext): Promise<DockerListed[] | undefined> {
  const client = ctx.docker();
  if (!client) return undefined;
  try {
    return await client.list();
  } catch (err) {
    if (!(err instanceof DockerUnavailable)) throw err;
    ctx.warn(
      `${err.message}. Still working: memory readings from the cgroups and OOM history from the state database; unavailable: Docker names, configured limits and stopped containers (--docker-socket none silences this)`,
    );
    return undefined;
  }
}
