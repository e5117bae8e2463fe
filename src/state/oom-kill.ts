import type { ContainerLabels } from './labels';
import { isoUtc } from '../iso-time';

/**
 * One OOM kill as oomwatch counted it: the one shape a kill has from the OOM ledger (which fills it) through
 * the state database (which stores it) to /api/v1/oom-events and the on-call commands (which show it, in the
 * JSON form below).
 */

/** Where a kill counts on the host: a container's limit or kill, the whole host out of memory, or neither. */
export type Scope = 'container' | 'system' | 'other';
/**
 * The container runtimes whose events reach the ledger. Their OOM events count as a source of their own (Docker
 * `oom`, containerd TaskOOM); Podman sends none (4.x and 5.x have no such event), so its containers' kills carry
 * the kernel log and the cgroup counter as sources, and `podman` names the runtime of their exits.
 */
export type RuntimeName = 'docker' | 'containerd' | 'podman';
/** The sources that saw a kill: the kernel log, the cgroup counter, a runtime's OOM event (by runtime). */
export type KillSource = 'kmsg' | 'cgroup' | RuntimeName;
/**
 * What made the kernel kill, from the kernel log: `system` (global OOM), `cgroup` (a memory-cgroup limit),
 * `other` (cpuset or mempolicy), `unknown` (the records that say were lost).
 */
export type KillTrigger = 'system' | 'cgroup' | 'other' | 'unknown';

/** The killed process, as the kernel's `Killed process` record describes it. */
export interface OomVictim {
  pid: number;
  comm: string;
  uid?: number;
  totalVmBytes?: number;
  anonRssBytes?: number;
  fileRssBytes?: number;
  shmemRssBytes?: number;
  oomScoreAdj?: number;
}

export interface OomKill {
  /** Unique per kill: `kmsg:<boot>:<seq>`, `cgroup:<id>:<time>:<n>` or `<runtime>:<id>:<time>` (docker, containerd). */
  key: string;
  timeMs: number;
  /** False when the time is when oomwatch noticed the kill (a cgroup counter read), not when it happened. */
  timeExact: boolean;
  scope: Scope;
  trigger?: KillTrigger;
  containerId?: string;
  /** The container's labels when the kill was last written. */
  labels?: ContainerLabels;
  /** The victim's memory cgroup. */
  cgroup?: string;
  victim?: OomVictim;
  /** Part of a memory.oom.group kill. */
  groupKill: boolean;
  /** The container's usage and limit at its last poll before the kill. */
  usageBytes?: number;
  limitBytes?: number;
  /** Sorted. */
  sources: KillSource[];
}

/** A container exit, as the exit log stores it. */
export interface ContainerExit {
  timeMs: number;
  containerId: string;
  labels: ContainerLabels;
  /** -1 when a container label hid Docker's exit code and it could not be looked up. */
  exitCode: number;
  /** The container was OOM-killed during this run. */
  oomKilled: boolean;
}

/** Add a source to a kill, keeping the list sorted and without repeats. */
export function addSource(kill: OomKill, source: KillSource): void {
  if (kill.sources.includes(source)) return;
  kill.sources.push(source);
  kill.sources.sort();
}

/** The victim's resident memory: anonymous, file and shared pages. */
export function victimRssBytes(v: OomVictim): number {
  return (v.anonRssBytes ?? 0) + (v.fileRssBytes ?? 0) + (v.shmemRssBytes ?? 0);
}

/** A kill as JSON, in /api/v1/oom-events and the `--json` output of the on-call commands. */
export interface OomKillJson {
  time: string;
  time_exact: boolean;
  scope: Scope;
  trigger: KillTrigger | null;
  container: (ContainerLabels & { id: string }) | null;
  cgroup: string | null;
  victim: {
    pid: number | null;
    comm: string | null;
    rss_bytes: number | null;
    anon_rss_bytes: number | null;
    file_rss_bytes: number | null;
    shmem_rss_bytes: number | null;
    total_vm_bytes: number | null;
    /**
     * The victim's oom_score_adj as the kernel printed it (5.4+ `Killed process ... oom_score_adj:%hd`): -1000
     * .. 1000, what the OOM killer adds to its badness (Kubernetes sets it by QoS class). Null where the kernel
     * did not print it (older kernels, and kills known only from cgroup counters or Docker events).
     */
    oom_score_adj: number | null;
  } | null;
  group_kill: boolean;
  usage_bytes: number | null;
  limit_bytes: number | null;
  sources: KillSource[];
}

export function oomKillJson(k: OomKill): OomKillJson {
  const v = k.victim;
  return {
    time: isoUtc(k.timeMs),
    time_exact: k.timeExact,
    scope: k.scope,
    trigger: k.trigger ?? null,
    container: k.containerId
      ? ({ ...k.labels, id: k.containerId } as ContainerLabels & { id: string })
      : null,
    cgroup: k.cgroup ?? null,
    victim: v
      ? {
          pid: v.pid ?? null,
          comm: v.comm ?? null,
          rss_bytes: victimRssBytes(v),
          anon_rss_bytes: v.anonRssBytes ?? null,
          file_rss_bytes: v.fileRssBytes ?? null,
          shmem_rss_bytes: v.shmemRssBytes ?? null,
          total_vm_bytes: v.totalVmBytes ?? null,
          oom_score_adj: v.oomScoreAdj ?? null,
        }
      : null,
    group_kill: k.groupKill,
    usage_bytes: k.usageBytes ?? null,
    limit_bytes: k.limitBytes ?? null,
    sources: k.sources,
  };
}
