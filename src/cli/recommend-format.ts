import type { ContainerLabels } from '../state/labels';
import { formatBytes, formatDuration, formatTime, paint } from './format';
import type { Finding, PeakObservation, Recommendation } from './recommend-rules';
import { dockerSize, k8sQuantity } from './units';

/**
 * The outputs of `oomwatch recommend`, pure: a report for people, a Compose override, `docker run` /
 * `docker update` flags, Kubernetes `resources`, and JSON. Findings travel with each output (as YAML and
 * shell comments in the config formats), so a file written from it still says why.
 */

export interface ContainerProposal {
  /** The full id. */
  id: string;
  labels: ContainerLabels;
  status: string;
  current: {
    /** Infinity: no limit; undefined: unknown. */
    limitBytes?: number;
    reservationBytes?: number;
    /** Swap allowed on top of memory; Infinity unlimited. */
    swapBytes?: number;
    oomKillDisabled?: boolean;
  };
  observations: PeakObservation[];
  historyMs: number;
  rec: Recommendation;
}

export interface RunParameters {
  now: number;
  windowMs: number;
  headroom: number;
}

export type OutputFormat = 'text' | 'compose' | 'docker' | 'k8s';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['text', 'compose', 'docker', 'k8s'];

function title(p: ContainerProposal): string {
  const { name, namespace, pod, container } = p.labels;
  if (pod) return `${namespace}/${pod} container ${container}`;
  return name || p.id.slice(0, 12);
}

/** YAML and shell comments must stay on one line. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

function findingLine(f: Finding): string {
  return `${f.severity.toUpperCase()} ${f.code}: ${f.message}`;
}

function currentText(p: ContainerProposal): string {
  const c = p.current;
  const limit =
    c.limitBytes === undefined ? 'unknown' : c.limitBytes === Infinity ? 'none' : formatBytes(c.limitBytes);
  const parts = [`limit ${limit}`];
  if (c.reservationBytes !== undefined && Number.isFinite(c.reservationBytes) && c.reservationBytes > 0)
    parts.push(`reservation ${formatBytes(c.reservationBytes)}`);
  if (c.swapBytes !== undefined)
    parts.push(c.swapBytes === 0 ? 'no swap' : `swap ${formatBytes(c.swapBytes)}`);
  if (c.oomKillDisabled) parts.push('OOM killer disabled');
  return parts.join(', ');
}

function proposedText(r: Recommendation): string {
  if (r.limitBytes === undefined) return 'nothing (no data)';
  const parts = [`limit ${formatBytes(r.limitBytes)}`];
  if (r.reservationBytes !== undefined) parts.push(`reservation ${formatBytes(r.reservationBytes)}`);
  if (r.memswapBytes !== undefined)
    parts.push(r.memswapBytes === r.limitBytes ? 'no swap' : `memory+swap ${formatBytes(r.memswapBytes)}`);
  return parts.join(', ');
}

const SEVERITY_COLOUR = { critical: 'red', warning: 'yellow', info: 'dim' } as const;

export function renderText(
  proposals: readonly ContainerProposal[],
  params: RunParameters,
  colour: boolean,
): string[] {
  const lines: string[] = [
    `Limits from the peak working set over the last ${formatDuration(params.windowMs)} × ${params.headroom} headroom (${formatTime(params.now)})`,
  ];
  for (const p of proposals) {
    lines.push('', `${paint(title(p), 'bold', colour)} (${p.id.slice(0, 12)})  ${p.status}`);
    lines.push(`  now       ${currentText(p)}`);
    lines.push(`  proposed  ${paint(proposedText(p.rec), 'bold', colour)}`);
    for (const o of p.observations)
      lines.push(`  seen      ${formatBytes(o.bytes).padStart(9)}  ${o.source}: ${o.detail}`);
    if (p.rec.reasons.length > 0) lines.push(`  because   ${p.rec.reasons.join(';\n            ')}`);
    for (const f of p.rec.findings)
      lines.push(`  ${paint(findingLine(f), SEVERITY_COLOUR[f.severity], colour)}`);
    if (p.rec.findings.length === 0) lines.push('  no findings');
  }
  return lines;
}

/** A Compose service key: names made of [A-Za-z0-9._-] go bare, anything else is quoted. */
function yamlKey(name: string): string {
  return /^[A-Za-z0-9._-]+$/.test(name) ? name : JSON.stringify(name);
}

/**
 * A Compose override (docker-compose.override.yml): `services.<service>.mem_limit`, `mem_reservation`,
 * `memswap_limit` (and `oom_kill_disable: false` where it was set). Containers of several projects give one
 * YAML document per project, separated by `---`, each saying which project it is for.
 */
export function renderCompose(proposals: readonly ContainerProposal[], params: RunParameters): string {
  const byProject = new Map<string, ContainerProposal[]>();
  for (const p of proposals) {
    const list = byProject.get(p.labels.compose_project) ?? [];
    list.push(p);
    byProject.set(p.labels.compose_project, list);
  }
  const docs: string[] = [];
  for (const [project, list] of byProject) {
    const lines: string[] = [
      `# oomwatch recommend ${formatTime(params.now)}: peak working set over ${formatDuration(params.windowMs)} × ${params.headroom} headroom`,
      project
        ? `# Compose project ${project}: save next to its compose file as docker-compose.override.yml, then: docker compose up -d`
        : '# Not started by Compose: each service is named after its container',
      'services:',
    ];
    for (const p of list) {
      lines.push(`  ${yamlKey(p.labels.compose_service || p.labels.name || p.id.slice(0, 12))}:`);
      lines.push(`    # ${oneLine(`${title(p)} (${p.id.slice(0, 12)}): now ${currentText(p)}`)}`);
      for (const f of p.rec.findings) lines.push(`    # ${oneLine(findingLine(f))}`);
      const r = p.rec;
      if (r.limitBytes === undefined) {
        lines.push('    {}');
        continue;
      }
      lines.push(`    mem_limit: ${dockerSize(r.limitBytes)}`);
      if (r.reservationBytes !== undefined)
        lines.push(`    mem_reservation: ${dockerSize(r.reservationBytes)}`);
      if (r.memswapBytes !== undefined) lines.push(`    memswap_limit: ${dockerSize(r.memswapBytes)}`);
      if (p.current.oomKillDisabled) lines.push('    oom_kill_disable: false');
    }
    docs.push(lines.join('\n'));
  }
  return `${docs.join('\n---\n')}\n`;
}

/** The flags of `docker run`, and the same applied to the running container with `docker update`. */
export function renderDocker(proposals: readonly ContainerProposal[], params: RunParameters): string {
  const lines: string[] = [
    `# oomwatch recommend ${formatTime(params.now)}: peak working set over ${formatDuration(params.windowMs)} × ${params.headroom} headroom`,
  ];
  for (const p of proposals) {
    lines.push('', `# ${oneLine(`${title(p)} (${p.id.slice(0, 12)}): now ${currentText(p)}`)}`);
    for (const f of p.rec.findings) lines.push(`# ${oneLine(findingLine(f))}`);
    const r = p.rec;
    if (r.limitBytes === undefined) continue;
    const flags = [`--memory=${dockerSize(r.limitBytes)}`];
    if (r.reservationBytes !== undefined)
      flags.push(`--memory-reservation=${dockerSize(r.reservationBytes)}`);
    if (r.memswapBytes !== undefined) flags.push(`--memory-swap=${dockerSize(r.memswapBytes)}`);
    const runFlags = p.current.oomKillDisabled ? [...flags, '--oom-kill-disable=false'] : flags;
    lines.push(runFlags.join(' '));
    if (p.status === 'running' && p.labels.name)
      lines.push(`# apply now, without a restart: docker update ${flags.join(' ')} ${p.labels.name}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Kubernetes `resources` for each container (requests.memory = the reservation, limits.memory = the limit),
 * one YAML document each. Kubernetes has no per-container swap setting (swap is a node setting).
 */
export function renderK8s(proposals: readonly ContainerProposal[], params: RunParameters): string {
  const docs: string[] = [];
  for (const p of proposals) {
    const lines = [
      `# oomwatch recommend ${formatTime(params.now)}: peak working set over ${formatDuration(params.windowMs)} × ${params.headroom} headroom`,
      `# ${oneLine(`${title(p)} (${p.id.slice(0, 12)}): now ${currentText(p)}`)}`,
      ...p.rec.findings.map((f) => `# ${oneLine(findingLine(f))}`),
    ];
    const r = p.rec;
    if (r.limitBytes === undefined) {
      lines.push('resources: {}');
    } else {
      if (r.memswapBytes !== undefined && r.memswapBytes > r.limitBytes)
        lines.push(
          '# it uses swap: Kubernetes gives swap only with the node setting LimitedSwap (Burstable pods)',
        );
      lines.push('resources:');
      if (r.reservationBytes !== undefined)
        lines.push('  requests:', `    memory: ${k8sQuantity(r.reservationBytes)}`);
      lines.push('  limits:', `    memory: ${k8sQuantity(r.limitBytes)}`);
    }
    docs.push(lines.join('\n'));
  }
  return `${docs.join('\n---\n')}\n`;
}

export function proposalJson(p: ContainerProposal): Record<string, unknown> {
  const bytes = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);
  return {
    container: { ...p.labels, id: p.id },
    status: p.status,
    current: {
      limit_bytes: bytes(p.current.limitBytes),
      unlimited: p.current.limitBytes === undefined ? null : p.current.limitBytes === Infinity,
      reservation_bytes: bytes(p.current.reservationBytes),
      swap_bytes:
        p.current.swapBytes === undefined
          ? null
          : p.current.swapBytes === Infinity
            ? 'unlimited'
            : p.current.swapBytes,
      oom_kill_disable: p.current.oomKillDisabled ?? null,
    },
    proposed: {
      limit_bytes: p.rec.limitBytes ?? null,
      reservation_bytes: p.rec.reservationBytes ?? null,
      memswap_bytes: p.rec.memswapBytes ?? null,
      swap:
        p.rec.memswapBytes === undefined || p.rec.limitBytes === undefined
          ? null
          : p.rec.memswapBytes > p.rec.limitBytes,
    },
    peak: p.rec.peakBytes === undefined ? null : { bytes: p.rec.peakBytes, source: p.rec.peakSource },
    observations: p.observations,
    history_seconds: Math.round(p.historyMs / 1000),
    reasons: p.rec.reasons,
    findings: p.rec.findings,
  };
}
