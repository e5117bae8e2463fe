import { OomwatchError } from '../errors';
import { readHostMemory } from '../sources/proc';
import { type CliContext, type CommandSpec, JSON_FLAG, hostFlags, runCommand, usageError } from './context';
import { gatherContainers } from './gather';
import { PrometheusClient } from './prometheus';
import { type EvidenceSources, proposalFor } from './recommend-evidence';
import {
  type ContainerProposal,
  OUTPUT_FORMATS,
  type OutputFormat,
  proposalJson,
  renderCompose,
  renderDocker,
  renderK8s,
  renderText,
} from './recommend-format';
import { type FindingCode, FINDING_CODES, failsOn, parseFailOn } from './recommend-rules';
import { type Candidate, resolutionError, resolveContainer } from './resolve';

/**
 * `oomwatch recommend [<container>... | --all]`: a memory limit for each container from what it really used,
 * and what is wrong with the one it has.
 *
 * The peak is the working set (usage minus the page cache the kernel can drop), the number the OOM killer
 * acts on, from every place that saw it: the cgroup now and its own peak counter since the container started,
 * the hourly peaks oomwatch serve keeps in its state database, and with --prometheus the max_over_time of
 * oomwatch_container_memory_working_set_bytes. Usage including page cache is not used: a container that reads
 * files fills its limit with cache, and a limit based on that would only ever grow.
 *
 * This module is the command: flags, which containers, which output. What each container's evidence is
 * comes from recommend-evidence.ts, the proposal from recommend-rules.ts, the outputs from recommend-format.ts.
 */

export const RECOMMEND: CommandSpec = {
  name: 'recommend',
  usage: 'recommend [<name|id-prefix>... | --all] [flags]',
  description: [
    'Proposes a memory limit per container: its peak working set times --headroom, rounded up to a sensible',
    'unit, with a reservation (the typical working set) and swap set equal to the limit (no swap) unless the',
    'container already uses swap. Findings say what is wrong with the current setting and why: no limit,',
    'limit far above or below the peak, OOM kills in the window, oom_kill_disable, a JVM heap too large for',
    'the limit, too little history to judge. Peaks come from the cgroup, from the hourly history oomwatch serve',
    'keeps, and from Prometheus with --prometheus.',
  ].join('\n'),
  flags: [
    { name: 'all', type: 'boolean', env: false, help: 'Every running container on this host' },
    {
      name: 'format',
      type: 'string',
      valueName: 'FORMAT',
      env: false,
      default: 'text',
      help: `Output: ${OUTPUT_FORMATS.join(', ')} (compose: a docker-compose.override.yml; docker: docker run/update flags; k8s: resources)`,
    },
    {
      name: 'headroom',
      type: 'number',
      valueName: 'FACTOR',
      env: false,
      default: '1.25',
      help: 'Limit = peak working set × this factor',
    },
    {
      name: 'window',
      type: 'duration',
      valueName: 'DURATION',
      env: false,
      default: '7d',
      help: 'How far back peaks and OOM kills are looked at',
    },
    {
      name: 'prometheus',
      type: 'string',
      valueName: 'URL',
      help: 'Also take max_over_time of the working set from this Prometheus (e.g. http://prometheus:9090)',
    },
    {
      name: 'min-history',
      type: 'duration',
      valueName: 'DURATION',
      env: false,
      default: '24h',
      help: 'Less history than this is reported as a finding (little-history)',
    },
    {
      name: 'fail-on',
      type: 'list',
      valueName: 'FINDING,...|any',
      env: false,
      repeatable: true,
      help: `Exit 1 when one of these findings is made: any, or ${FINDING_CODES.join(', ')}`,
    },
    JSON_FLAG,
    ...hostFlags(),
  ],
  notes: [
    'The environment of a container is read for one check only: the memory flags in JAVA_TOOL_OPTIONS and',
    'JAVA_OPTS (-Xmx, -XX:MaxRAMPercentage...). Nothing else of it is read, printed or stored.',
  ],
  examples: [
    'oomwatch recommend web',
    'oomwatch recommend --all --format compose > docker-compose.override.yml',
    'oomwatch recommend api --format k8s --prometheus http://prometheus:9090 --window 14d',
    'oomwatch recommend --all --fail-on no-limit,oom-kills   # in CI or cron: exit 1 when any is found',
  ],
};

interface Options {
  format: OutputFormat;
  headroom: number;
  windowMs: number;
  minHistoryMs: number;
  failOn: Set<FindingCode> | 'any' | undefined;
  prometheus: PrometheusClient | undefined;
}

function options(ctx: CliContext): Options {
  const v = ctx.values;
  const format = v['format'] as string;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format))
    throw usageError('recommend', `--format: expected one of ${OUTPUT_FORMATS.join(', ')}, got "${format}"`);
  const headroom = v['headroom'] as number;
  if (!(headroom >= 1 && headroom <= 10))
    throw usageError('recommend', `--headroom: expected a factor from 1 to 10, got ${headroom}`);
  const windowMs = v['window'] as number;
  if (!(windowMs >= 60_000)) throw usageError('recommend', '--window: must be at least 1m');
  let failOn: Options['failOn'];
  if (v['fail-on'] !== undefined) {
    const parsed = parseFailOn(v['fail-on'] as string[]);
    if (parsed.errors.length > 0) throw usageError('recommend', parsed.errors.join('; '));
    failOn = parsed.codes;
  }
  const url = v['prometheus'] as string | undefined;
  if (url !== undefined && !/^https?:\/\/[^/]+/.test(url))
    throw usageError(
      'recommend',
      `--prometheus: expected a URL such as http://prometheus:9090, got "${url}"`,
    );
  return {
    format: format as OutputFormat,
    headroom,
    windowMs,
    minHistoryMs: v['min-history'] as number,
    failOn,
    prometheus: url ? new PrometheusClient(url) : undefined,
  };
}

export async function recommendCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand(RECOMMEND, argv, env, async (ctx, positional) => {
    const opts = options(ctx);
    const all = ctx.values['all'] === true;
    if (all && positional.length > 0)
      throw usageError('recommend', 'give container names or --all, not both');
    if (!all && positional.length === 0)
      throw usageError('recommend', 'name one or more containers, or pass --all');

    const g = await gatherContainers(ctx, {
      stateRequired: false,
      stateWhat: 'the peak history and the OOM kills in the window',
      needCgroups: false,
    });
    let targets: Candidate[];
    if (all) {
      const sandboxes = new Set(
        (g.known.docker ?? []).filter((d) => d.meta.sandbox === true).map((d) => d.id),
      );
      targets = [...g.all.values()]
        .filter((c) => c.cgroup !== undefined && !sandboxes.has(c.id))
        .sort((a, b) => (a.labels.name || a.id).localeCompare(b.labels.name || b.id));
      if (targets.length === 0)
        throw new OomwatchError('OOMW_NOT_FOUND', 'oomwatch: no running container on this host');
    } else {
      targets = [];
      for (const arg of positional) {
        const r = resolveContainer(arg, g.all);
        if (r.kind !== 'found') throw resolutionError(arg, r, g.searched);
        if (r.note) ctx.warn(r.note);
        if (!targets.some((t) => t.id === r.candidate.id)) targets.push(r.candidate);
      }
    }

    const now = Date.now();
    const host = readHostMemory(ctx.procRoot);
    let prometheusDown = false;
    const proposals: ContainerProposal[] = [];
    const from: EvidenceSources = {
      ...(g.layout ? { layout: g.layout } : {}),
      ...(g.store ? { store: g.store } : {}),
      ...(g.dockerUp && ctx.docker() ? { docker: ctx.docker() } : {}),
      ...(host ? { host } : {}),
      ...(opts.prometheus ? { prometheus: opts.prometheus } : {}),
      prometheusFailed: (err) => {
        if (!prometheusDown)
          ctx.warn(`Prometheus: ${err.message}; proposals use the cgroups and oomwatch's history only`);
        prometheusDown = true;
      },
    };
    for (const c of targets) proposals.push(await proposalFor(c, from, { ...opts, now }));

    const params = { now, windowMs: opts.windowMs, headroom: opts.headroom };
    if (ctx.json) {
      ctx.out(
        JSON.stringify(
          {
            generated_at: new Date(now).toISOString(),
            window_seconds: opts.windowMs / 1000,
            headroom: opts.headroom,
            containers: proposals.map(proposalJson),
          },
          null,
          2,
        ),
      );
    } else if (opts.format === 'compose') ctx.out(renderCompose(proposals, params));
    else if (opts.format === 'docker') ctx.out(renderDocker(proposals, params));
    else if (opts.format === 'k8s') ctx.out(renderK8s(proposals, params));
    else ctx.out(renderText(proposals, params, ctx.colour).join('\n'));

    const findings = proposals.flatMap((p) => p.rec.findings);
    return opts.failOn !== undefined && failsOn(findings, opts.failOn) ? 1 : 0;
  });
}
