import { ancestorLimit } from '../cgroup/ancestors';
import { readHostMemory } from '../sources/proc';
import { type CommandSpec, JSON_FLAG, hostFlags, runCommand, usageError } from './context';
import { gatherContainers } from './gather';
import { readCgroup } from './host';
import { renderInspect } from './inspect-render';
import { type InspectInputs, buildInspectReport } from './inspect-report';
import { resolutionError, resolveContainer } from './resolve';

/**
 * `oomwatch inspect <name|id-prefix>`: everything about one container's memory that the on-call engineer
 * would otherwise collect from `docker inspect`, `docker stats`, a handful of `cat`s under /sys/fs/cgroup and
 * the kernel log: its limits and what they mean, how close it is, what the kernel says, and what was killed.
 *
 * This module is the command: its flags, and gathering what the host knows of the container. The report made
 * of it is inspect-report.ts (pure), the text of the report inspect-render.ts (pure); --json prints the report.
 */

export const INSPECT: CommandSpec = {
  name: 'inspect',
  usage: 'inspect <name|id-prefix> [flags]',
  description: [
    "Shows one container's memory: the limit (or a warning that it has none), reservation, memory.high, swap",
    'and whether it is effectively off, usage, working set and peak, the memory.stat breakdown, OOM state, PSI,',
    "and its OOM kills and exits from oomwatch's state database. Finds stopped and removed containers too.",
    'Reads the host directly (cgroups, Docker, state directory): no running daemon is needed.',
  ].join('\n'),
  flags: [JSON_FLAG, ...hostFlags()],
  notes: [
    'A name is matched exactly (Docker name, or pod/container); otherwise the argument is an id prefix.',
    'A prefix that matches several containers lists them and exits 2; an unknown container exits 1.',
  ],
  examples: [
    'oomwatch inspect web',
    'oomwatch inspect 3f2a9c --json | jq .memory.limit_bytes',
    'oomwatch inspect shop-db-1 --state-dir /srv/oomwatch',
  ],
};

export async function inspectCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand(INSPECT, argv, env, async (ctx, positional) => {
    if (positional.length !== 1)
      throw usageError('inspect', 'expected exactly one container name or id prefix');
    const arg = positional[0] as string;
    const g = await gatherContainers(ctx, {
      stateRequired: false,
      stateWhat: 'OOM history',
      needCgroups: false,
    });
    const r = resolveContainer(arg, g.all);
    if (r.kind !== 'found') throw resolutionError(arg, r, g.searched);
    const c = r.candidate;
    if (r.note) ctx.warn(r.note);

    const inputs: InspectInputs = { candidate: c, now: Date.now(), stateAvailable: g.store !== undefined };
    const host = readHostMemory(ctx.procRoot);
    if (host) inputs.host = host;
    if (g.dockerUp && c.inDocker) {
      const d = await ctx.docker()?.inspect(c.id);
      if (d) inputs.docker = d.run;
    }
    if (g.layout && c.cgroup) {
      inputs.layoutMode = g.layout.mode;
      const reading = readCgroup(g.layout, c.cgroup.cgroupPath);
      if (reading) {
        inputs.reading = reading;
        inputs.cgroupPath = c.cgroup.cgroupPath;
        const anc = ancestorLimit(g.layout, c.cgroup.cgroupPath);
        if (anc) inputs.ancestor = anc;
      }
    }
    if (g.store) {
      if (c.stateRow) inputs.stateRow = c.stateRow;
      inputs.oomEvents = g.store.queryOomEvents({ container: c.id, limit: 20 });
      inputs.exits = g.store.queryExitEvents({ container: c.id, limit: 10 });
    }
    const report = buildInspectReport(inputs);
    if (ctx.json) ctx.out(JSON.stringify(report, null, 2));
    else ctx.out(renderInspect(report, ctx.colour).join('\n'));
    return 0;
  });
}
