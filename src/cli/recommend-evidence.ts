import type { CgroupLayout } from '../cgroup/layout';
import type { HostMemory } from '../sources/proc';
import type { StateQueries } from '../state/queries';
import type { CliDocker } from './docker';
import { formatBytes, formatDuration, formatTime } from './format';
import { readCgroup } from './host';
import { type PrometheusClient, PrometheusError, selectorFor } from './prometheus';
import type { ContainerProposal } from './recommend-format';
import { type PeakObservation, median, recommend } from './recommend-rules';
import type { Candidate } from './resolve';
import { dockerSwapAllowance } from './verdicts';

/**
 * The evidence `oomwatch recommend` weighs for one container, gathered from every place that saw it: its
 * current settings (the cgroup, else Docker's configuration of a stopped container), its peak working set
 * (the cgroup now and its own peak counter, the hourly peaks of the state database, Prometheus), its OOM
 * kills in the window, and its JVM heap flags. The proposal itself is recommend-rules.ts's.
 */

/** What the host has to tell about a container; each is absent where the host does not have it. */
export interface EvidenceSources {
  layout?: CgroupLayout;
  store?: StateQueries;
  /** Docker, when it answered. */
  docker?: CliDocker;
  host?: HostMemory;
  prometheus?: PrometheusClient;
  /** A Prometheus query failed: the proposal goes on without it. */
  prometheusFailed(err: PrometheusError): void;
}

export interface ProposalParameters {
  headroom: number;
  windowMs: number;
  minHistoryMs: number;
  now: number;
}

/** Gather what `from` tells about container `c` and make its proposal (recommend-rules.ts decides). */
export async function proposalFor(
  c: Candidate,
  from: EvidenceSources,
  opts: ProposalParameters,
): Promise<ContainerProposal> {
  const { now } = opts;
  const host = from.host;
  const sinceMs = now - opts.windowMs;
  const reading = from.layout && c.cgroup ? readCgroup(from.layout, c.cgroup.cgroupPath) : undefined;
  const s = reading?.sample;
  const docker = c.inDocker ? from.docker : undefined;
  const inspected = docker ? await docker.inspect(c.id) : undefined;
  const details = inspected?.run;
  const jvm = inspected?.jvm;

  const current: ContainerProposal['current'] = {};
  if (s) {
    if (s.limit !== undefined) current.limitBytes = s.limit;
    if (s.reservation !== undefined) current.reservationBytes = s.reservation;
    if (s.swapLimit !== undefined) current.swapBytes = s.swapLimit;
    if (s.oomKillDisabled !== undefined) current.oomKillDisabled = s.oomKillDisabled;
  } else if (details) {
    const m = details.memory;
    current.limitBytes = m.limit > 0 ? m.limit : Infinity;
    if (m.reservation > 0) current.reservationBytes = m.reservation;
    const swap = dockerSwapAllowance(m.limit, m.memorySwap);
    if (swap !== undefined) current.swapBytes = swap;
    current.oomKillDisabled = m.oomKillDisable;
  }
  // What the container can really swap: nothing on a host without swap, whatever the cgroup allows.
  if (host?.swapTotalBytes === 0) current.swapBytes = 0;

  const observations: PeakObservation[] = [];
  let historyMs = 0;
  const startedMs = details?.startedAtMs ?? c.stateRow?.first_seen_ms;
  if (s?.workingSet !== undefined)
    observations.push({ source: 'current', bytes: s.workingSet, detail: 'working set now' });
  if (s?.peak !== undefined && s.stat) {
    // The cgroup's own peak catches spikes between oomwatch's polls, but counts page cache: take off what the
    // kernel could drop now, the same subtraction that makes usage a working set.
    const estimate = Math.max(s.workingSet ?? 0, s.peak - s.stat.inactiveFile);
    observations.push({
      source: 'cgroup',
      bytes: estimate,
      detail: `peak usage ${formatBytes(s.peak)}${startedMs ? ` since ${formatTime(startedMs)}` : ' since the cgroup was created'}, less ${formatBytes(s.stat.inactiveFile)} of reclaimable page cache`,
    });
    if (startedMs !== undefined) historyMs = Math.max(historyMs, now - startedMs);
  }

  const ids = new Set<string>([c.id]);
  const hourly: number[] = [];
  let swapPeak = s?.swap ?? 0;
  if (from.store) {
    const rows = from.store.peakHistory({ containerIds: [c.id], service: c.labels, sinceMs });
    for (const r of rows) {
      ids.add(r.container_id);
      if (r.working_set_peak_bytes !== null) hourly.push(r.working_set_peak_bytes);
      swapPeak = Math.max(swapPeak, r.swap_peak_bytes ?? 0);
    }
    if (hourly.length > 0) {
      const first = Math.max(
        (rows[0] as { hour_ms: number }).hour_ms,
        ids.size === 1 ? (c.stateRow?.first_seen_ms ?? 0) : 0,
      );
      const span = now - first;
      historyMs = Math.max(historyMs, span);
      const service =
        ids.size > 1
          ? ` of Compose service ${c.labels.compose_project}/${c.labels.compose_service} (${ids.size} containers)`
          : '';
      observations.push({
        source: 'history',
        bytes: Math.max(...hourly),
        detail: `${hourly.length} hourly peak${hourly.length === 1 ? '' : 's'}${service} over ${formatDuration(span)}`,
      });
    }
  }

  if (from.prometheus) {
    const selector = selectorFor(c.labels);
    try {
      const p = await from.prometheus.peak(selector, opts.windowMs, now);
      if (p) {
        const span = Math.max(0, now - p.firstSampleMs);
        historyMs = Math.max(historyMs, span);
        observations.push({
          source: 'prometheus',
          bytes: p.bytes,
          detail: `max_over_time of the working set ${selector} over ${formatDuration(span)}`,
        });
      }
    } catch (err) {
      if (err instanceof PrometheusError) from.prometheusFailed(err);
      else throw err;
    }
  }

  // OOM kills in the window: the event log (which outlives the container), else the kernel's counter for
  // a cgroup started within the window, else Docker's OOMKilled flag of a stopped container.
  let oomKills: { count: number; lastMs?: number } = { count: 0 };
  if (from.store) {
    const events = from.store
      .queryOomEvents({ sinceMs, limit: 10_000 })
      .filter((e) => e.containerId !== undefined && ids.has(e.containerId));
    if (events.length > 0)
      oomKills = { count: events.length, lastMs: Math.max(...events.map((e) => e.timeMs)) };
  }
  if (oomKills.count === 0 && s?.oomKills && startedMs !== undefined && startedMs >= sinceMs)
    oomKills = { count: s.oomKills };
  if (oomKills.count === 0 && details?.oomKilled && (details.finishedAtMs ?? 0) >= sinceMs) {
    oomKills = details.finishedAtMs !== undefined ? { count: 1, lastMs: details.finishedAtMs } : { count: 1 };
  }

  const typical = median(hourly) ?? s?.workingSet;
  const rec = recommend({
    limitBytes: current.limitBytes,
    ...(current.oomKillDisabled !== undefined ? { oomKillDisabled: current.oomKillDisabled } : {}),
    observations,
    ...(typical !== undefined ? { typicalBytes: typical } : {}),
    historyMs: Math.min(historyMs, opts.windowMs),
    minHistoryMs: Math.min(opts.minHistoryMs, opts.windowMs),
    swapPeakBytes: swapPeak,
    oomKills,
    ...(jvm ? { jvm } : {}),
    hostMemoryBytes: host?.memTotalBytes ?? 0,
    headroom: opts.headroom,
    windowMs: opts.windowMs,
    now,
  });
  return {
    id: c.id,
    labels: c.labels,
    status: s ? 'running' : details ? details.state || 'stopped' : 'removed',
    current,
    observations,
    historyMs: Math.min(historyMs, opts.windowMs),
    rec,
  };
}
