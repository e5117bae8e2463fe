import type { KillTrigger, OomVictim, RuntimeName } from '../state/oom-kill';

export type { RuntimeName };

/**
 * What the OOM sources observe, in the shapes the OOM ledger (accounting/ledger.ts) consumes. Sources
 * parse and normalise; the ledger alone decides what is a new kill, what is the same kill seen again,
 * and which container it belongs to.
 */

/** A process killed by the kernel's OOM killer, from one `Killed process` record in /dev/kmsg. */
export interface KernelOomKill {
  /** Boot id (/proc/sys/kernel/random/boot_id) and kmsg sequence number: unique per record. */
  bootId: string;
  seq: number;
  /** Wall-clock time of the kill in ms (boot time + the record's microseconds since boot). */
  timeMs: number;
  /**
   * `system` for a global OOM (`global_oom`, CONSTRAINT_NONE, or an `Out of memory:` prefix), `cgroup` for a
   * memory-cgroup limit (`oom_memcg=`, `Memory cgroup out of memory:`), `other` for cpuset and mempolicy
   * constraints (told apart only by the `oom-kill:` line: without it they read as `system`), `unknown` when
   * the records that say were lost (a 4.x `Killed process` line has no prefix; its `Kill process` line was
   * overwritten or never read).
   */
  trigger: KillTrigger;
  /**
   * The kernel's `constraint=` (CONSTRAINT_MEMCG, CONSTRAINT_NONE, CONSTRAINT_CPUSET, CONSTRAINT_MEMORY_POLICY)
   * from the `oom-kill:` line, when that line was printed for this victim (5.0+, not rate-limited).
   */
  constraint?: string;
  /** The cgroup whose limit was hit (`oom_memcg=` / "as a result of limit of"), when the record says. */
  oomMemcg?: string;
  /**
   * The victim's memory cgroup (`task_memcg=` / "Task in ... killed"). Absent when the kernel's rate limit
   * suppressed the `oom-kill:` summary line (more than 10 OOMs in 5 s): the ledger then attributes the
   * kill by matching it with a cgroup counter increase or a Docker `oom` event.
   */
  taskMemcg?: string;
  victim: OomVictim;
  /**
   * One of the processes killed after `Tasks in <memcg> are going to be killed due to memory.oom.group set`
   * (the first victim, killed before that line, is not flagged).
   */
  groupKill?: boolean;
  /** The cgroup named by that `Tasks in` line: the victim is in it or below it. Set with groupKill. */
  groupMemcg?: string;
  /**
   * Set when this record reports a pid already reported killed in the same OOM event, with that record's seq.
   * memory.oom.group kills every task of the group, the first victim included if it has not released its
   * memory yet: the kernel prints it twice and counts it twice in vmstat `oom_kill` and `memory.events`.
   */
  repeatOfSeq?: number;
}

/**
 * An OOM situation a runtime reported for a container (a kill is likely but not certain): Docker's `oom` event,
 * containerd's TaskOOM (which is what Docker's `oom` relays). Raised for any OOM kill in the container's
 * cgroup, its main process or a child, and on cgroup v1 several times for one kill.
 */
export interface RuntimeOomEvent {
  runtime: RuntimeName;
  /** The container id as the runtime names it (the table's key). */
  id: string;
  timeMs: number;
}

/** A container's own exit (its main process: Docker's `die`, containerd's TaskExit of the init process). */
export interface RuntimeExitEvent {
  runtime: RuntimeName;
  id: string;
  exitCode: number;
  timeMs: number;
}

/** A new run of a container (Docker's `start`, containerd's TaskStart). */
export interface RuntimeStartEvent {
  runtime: RuntimeName;
  id: string;
  timeMs: number;
}

/** Docker's `oom` event: the container hit an OOM situation (a kill is likely but not certain). */
export interface DockerOomEvent {
  /** Full container id. */
  id: string;
  timeMs: number;
  /** Docker's event timestamp in nanoseconds, used as the persisted replay cursor. */
  timeNano: bigint;
}

/** Docker's `die` event. */
export interface DockerDieEvent {
  id: string;
  exitCode: number;
  timeMs: number;
  timeNano: bigint;
}
