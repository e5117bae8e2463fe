import { formatBytes, formatDuration, formatPercent } from './format';
import type { JvmMemoryFlags } from '../sources/docker/jvm-flags';
import { JVM_HEAP_SHARE, JVM_MIN_NON_HEAP, jvmMaxHeap, limitForHeap } from './jvm';
import { roundLimitUp, roundReservationDown } from './units';

/**
 * The rules of `oomwatch recommend`, pure: observed peaks in, a proposed limit, reservation and swap
 * setting out, with findings that say what is wrong with the current setting and why.
 */

export const FINDING_CODES = [
  'no-limit',
  'limit-below-peak',
  'limit-far-above-peak',
  'oom-kills',
  'oom-kill-disabled',
  'jvm-heap',
  'little-history',
  'no-data',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export type Severity = 'critical' | 'warning' | 'info';

export interface Finding {
  code: FindingCode;
  severity: Severity;
  message: string;
}

/** Where a peak was observed. */
export type PeakSource = 'cgroup' | 'history' | 'prometheus' | 'current';

export interface PeakObservation {
  source: PeakSource;
  /** Working-set bytes (for `cgroup`, the cgroup's peak counter minus the page cache the kernel can drop). */
  bytes: number;
  /** Human description of what it covers, e.g. "hourly peaks over 3d 4h". */
  detail: string;
}

export interface RecommendInput {
  /** Current limit: Infinity when none, undefined when unknown (no cgroup and no Docker). */
  limitBytes: number | undefined;
  oomKillDisabled?: boolean;
  observations: PeakObservation[];
  /** A typical working set (median of hourly peaks, else the current one), for the reservation. */
  typicalBytes?: number;
  /** How much time the observations cover. */
  historyMs: number;
  /** Below this much history the proposal may miss a daily cycle. */
  minHistoryMs: number;
  /** Highest swap use seen; > 0 means the container relies on swap. */
  swapPeakBytes: number;
  oomKills: { count: number; lastMs?: number };
  jvm?: JvmMemoryFlags;
  hostMemoryBytes: number;
  headroom: number;
  windowMs: number;
  now: number;
}

export interface Recommendation {
  limitBytes?: number;
  reservationBytes?: number;
  /** Memory plus swap (Docker --memory-swap, Compose memswap_limit); equal to the limit means no swap. */
  memswapBytes?: number;
  peakBytes?: number;
  peakSource?: PeakSource;
  /** Why the numbers are what they are, one sentence each. */
  reasons: string[];
  findings: Finding[];
}

/** A limit this many times the proposal (and at least FAR_ABOVE_MIN_BYTES more) is "far above". */
export const FAR_ABOVE_FACTOR = 2;
export const FAR_ABOVE_MIN_BYTES = 256 * 1024 * 1024;

export function recommend(input: RecommendInput): Recommendation {
  const findings: Finding[] = [];
  const reasons: string[] = [];
  const { limitBytes, headroom } = input;
  const limited = limitBytes !== undefined && Number.isFinite(limitBytes);

  if (limitBytes === Infinity) {
    findings.push({
      code: 'no-limit',
      severity: 'critical',
      message: `no memory limit: the container can use all ${formatBytes(input.hostMemoryBytes)} of the host's memory, and when it runs away the host's OOM killer picks a victim anywhere on the host`,
    });
  }
  if (input.oomKillDisabled) {
    findings.push({
      code: 'oom-kill-disabled',
      severity: 'critical',
      message:
        'oom_kill_disable is set: at its limit the container hangs (under_oom) instead of losing a process, and without a limit the host has to kill something else; drop --oom-kill-disable',
    });
  }
  if (input.oomKills.count > 0) {
    const last =
      input.oomKills.lastMs === undefined
        ? ''
        : `, the last ${formatDuration(input.now - input.oomKills.lastMs)} ago`;
    findings.push({
      code: 'oom-kills',
      severity: 'critical',
      message: `${input.oomKills.count} OOM kill${input.oomKills.count === 1 ? '' : 's'} in the last ${formatDuration(input.windowMs)}${last}: the container needs more than its limit at times`,
    });
  }

  const best = input.observations.reduce<PeakObservation | undefined>(
    (a, o) => (a === undefined || o.bytes > a.bytes ? o : a),
    undefined,
  );
  if (best !== undefined && input.historyMs < input.minHistoryMs) {
    findings.push({
      code: 'little-history',
      severity: 'info',
      message: `only ${formatDuration(input.historyMs)} of history (under ${formatDuration(input.minHistoryMs)}): a daily or weekly peak may not have happened yet, so the proposal may be low; run oomwatch serve longer or pass --prometheus`,
    });
  }

  let target = 0;
  if (best !== undefined) {
    target = best.bytes * headroom;
    reasons.push(
      `peak working set ${formatBytes(best.bytes)} (${best.source}: ${best.detail}) × ${headroom} headroom = ${formatBytes(target)}`,
    );
  }
  if (input.oomKills.count > 0 && limited) {
    const atLeast = (limitBytes as number) * headroom;
    if (atLeast > target) {
      target = atLeast;
      reasons.push(
        `it was OOM-killed at its ${formatBytes(limitBytes)} limit, so what it really needs is unknown but above that: at least the limit × ${headroom} = ${formatBytes(atLeast)}`,
      );
    }
  }
  if (input.jvm?.maxHeapBytes !== undefined) {
    const forHeap = limitForHeap(input.jvm.maxHeapBytes);
    if (forHeap > target) {
      target = forHeap;
      reasons.push(
        `the JVM heap is fixed at ${formatBytes(input.jvm.maxHeapBytes)} (${input.jvm.flags.join(' ')}): the limit must leave room beyond it, at least ${formatBytes(forHeap)}`,
      );
    }
  }
  if (target === 0) {
    findings.push({
      code: 'no-data',
      severity: 'warning',
      message:
        'no memory reading at all (the container is not running, oomwatch serve has no history of it, and no Prometheus was asked): nothing to base a limit on',
    });
    if (input.jvm)
      findings.push(
        ...jvmFindings(
          input.jvm,
          limited ? (limitBytes as number) : Infinity,
          limited,
          input.hostMemoryBytes,
        ),
      );
    return { reasons, findings: bySeverity(findings) };
  }
  const proposed = roundLimitUp(target);
  reasons.push(`rounded up to ${formatBytes(proposed)}`);

  const peak = best?.bytes ?? 0;
  if (limited && best !== undefined) {
    const limit = limitBytes as number;
    if (peak * headroom > limit) {
      findings.push({
        code: 'limit-below-peak',
        severity: peak >= limit ? 'critical' : 'warning',
        message:
          peak >= limit
            ? `the peak working set ${formatBytes(peak)} reached the ${formatBytes(limit)} limit: the next spike is an OOM kill`
            : `the peak working set ${formatBytes(peak)} is ${formatPercent(peak / limit)} of the ${formatBytes(limit)} limit: less than the ${headroom}× headroom`,
      });
    } else if (
      limit >= FAR_ABOVE_FACTOR * proposed &&
      limit - proposed >= FAR_ABOVE_MIN_BYTES &&
      input.oomKills.count === 0
    ) {
      findings.push({
        code: 'limit-far-above-peak',
        severity: 'warning',
        message: `the ${formatBytes(limit)} limit is ${(limit / peak).toFixed(1)}× the peak working set ${formatBytes(peak)}: ${formatBytes(limit - proposed)} more than needed, memory a leak can fill before the kernel steps in and that schedulers sizing by limits set aside for nothing`,
      });
    }
  }

  if (input.jvm)
    findings.push(
      ...jvmFindings(input.jvm, limited ? (limitBytes as number) : proposed, limited, input.hostMemoryBytes),
    );

  const rec: Recommendation = { limitBytes: proposed, reasons, findings };
  if (best !== undefined) {
    rec.peakBytes = best.bytes;
    rec.peakSource = best.source;
  }
  if (input.typicalBytes !== undefined && input.typicalBytes > 0) {
    rec.reservationBytes = Math.min(roundReservationDown(input.typicalBytes), proposed);
    reasons.push(
      `reservation ${formatBytes(rec.reservationBytes)}: the typical working set ${formatBytes(input.typicalBytes)}, rounded down`,
    );
  }
  if (input.swapPeakBytes > 0) {
    rec.memswapBytes = proposed + roundLimitUp(input.swapPeakBytes * headroom);
    reasons.push(
      `it uses swap (peak ${formatBytes(input.swapPeakBytes)}): memory+swap ${formatBytes(rec.memswapBytes)} keeps room for it`,
    );
  } else {
    rec.memswapBytes = proposed;
    reasons.push(
      'memory+swap equal to the limit: no swap, so a leak ends in an OOM kill rather than a slow crawl',
    );
  }
  rec.findings = bySeverity(findings);
  return rec;
}

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/** Most severe first; the order of the rules within a severity. */
function bySeverity(findings: Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => SEVERITY_ORDER[a.f.severity] - SEVERITY_ORDER[b.f.severity] || a.i - b.i)
    .map(({ f }) => f);
}

/**
 * The JVM's heap under `limit`: too large a share leaves the JVM no room for what is not heap, and the
 * kernel kills it although the heap never filled.
 */
export function jvmFindings(
  flags: JvmMemoryFlags,
  limit: number,
  current: boolean,
  hostBytes: number,
): Finding[] {
  const out: Finding[] = [];
  const which = current ? 'limit' : 'proposed limit';
  if (!flags.containerSupport) {
    out.push({
      code: 'jvm-heap',
      severity: 'warning',
      message: `-XX:-UseContainerSupport: the JVM sizes its heap from the host's ${formatBytes(hostBytes)}, not from the container's limit`,
    });
  }
  const heap = jvmMaxHeap(flags, limit, hostBytes);
  const room = limit - heap.bytes;
  if (heap.bytes > limit * JVM_HEAP_SHARE || room < JVM_MIN_NON_HEAP) {
    const fix =
      flags.maxHeapBytes !== undefined
        ? `raise the limit to ${formatBytes(roundLimitUp(limitForHeap(heap.bytes)))} or lower the heap to -Xmx${Math.floor((limit * JVM_HEAP_SHARE) / (1024 * 1024))}m`
        : `use -XX:MaxRAMPercentage=${JVM_HEAP_SHARE * 100} or less`;
    out.push({
      code: 'jvm-heap',
      severity: heap.bytes >= limit ? 'critical' : 'warning',
      message:
        heap.bytes >= limit
          ? `${flags.flags.join(' ')}: the JVM heap alone (${formatBytes(heap.bytes)}) may exceed the ${formatBytes(limit)} ${which}; ${fix}`
          : `${flags.flags.join(' ')}: the JVM heap may take ${formatBytes(heap.bytes)} of the ${formatBytes(limit)} ${which} (${formatPercent(heap.bytes / limit)}), leaving ${formatBytes(room)} for metaspace, code cache, thread stacks and direct buffers; ${fix}`,
    });
  }
  return out;
}

/** Parse `--fail-on`: "any", or a comma-separated list of finding codes. */
export function parseFailOn(values: readonly string[]): {
  codes: Set<FindingCode> | 'any';
  errors: string[];
} {
  if (values.includes('any')) return { codes: 'any', errors: [] };
  const codes = new Set<FindingCode>();
  const errors: string[] = [];
  for (const v of values) {
    if ((FINDING_CODES as readonly string[]).includes(v)) codes.add(v as FindingCode);
    else
      errors.push(`--fail-on: unknown finding "${v}"; expected any or some of ${FINDING_CODES.join(', ')}`);
  }
  return { codes, errors };
}

export function failsOn(findings: readonly Finding[], failOn: Set<FindingCode> | 'any'): boolean {
  return findings.some((f) => failOn === 'any' || failOn.has(f.code));
}

/** The middle value of the hourly peaks (the typical hour), or undefined when there are none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
