import type { KernelOomKill } from '../../accounting/observations';

/**
 * Pure parsers of the OOM killer's lines in the kernel log, one function per line. No I/O, no logging: the
 * source (source.ts) reads, record.ts cuts records, assembler.ts joins these lines into kills.
 *
 * The format strings quoted below are the kernel's own; the eras they come from are named with the file and
 * the function that prints them:
 *   4.x  (mm/memcontrol.c mem_cgroup_print_oom_info, mm/oom_kill.c oom_kill_process, __oom_kill_process):
 *        "Task in %cgroup killed as a result of limit of %cgroup"
 *        "%s: Kill process %d (%s) score %u or sacrifice child"
 *        "Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB"
 *        4.19 adds memory.oom.group (mm/memcontrol.c mem_cgroup_print_oom_group):
 *        "Tasks in %cgroup are going to be killed due to memory.oom.group set"
 *   5.x/6.x (mm/oom_kill.c dump_oom_summary, renamed dump_oom_victim in 6.x; mm/memcontrol.c
 *        mem_cgroup_print_oom_context; mm/oom_kill.c __oom_kill_process):
 *        "oom-kill:constraint=%s,nodemask=%*pbl" ",cpuset=%s,mems_allowed=%*pbl" (kernel/cgroup/cpuset.c
 *        cpuset_print_current_mems_allowed) ",oom_memcg=%cgroup" | ",global_oom" ",task_memcg=%cgroup"
 *        ",task=%s,pid=%d,uid=%d"
 *        "%s: Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB,
 *         UID:%u pgtables:%lukB oom_score_adj:%hd"
 *        "%s: OOM victim %d (%s) is already exiting. Skip killing the task"
 *        where %s is "Memory cgroup out of memory", "Out of memory" or "Out of memory (oom_kill_allocating_task)"
 *        (mm/oom_kill.c out_of_memory).
 * Read in: 4.19 (0x88888888/linux-4.19-comments mm/oom_kill.c), 5.10 (AltafYafai/kernel_common_5.10
 * mm/oom_kill.c; the printk strings are mainline's), and the mem_cgroup_print_oom_context diffs on the
 * linux-mm list; the 6.18 records of this machine's kernel are in test/fixtures/kmsg/real-*.txt.
 */

export type OomTrigger = KernelOomKill['trigger'];

/** `Killed process ...` (every era): the one record per killed process. */
export interface KilledProcessLine {
  /** The text before `: Killed process` (5.1+), e.g. "Memory cgroup out of memory". */
  prefix?: string;
  pid: number;
  comm: string;
  uid?: number;
  totalVmBytes: number;
  anonRssBytes: number;
  fileRssBytes: number;
  shmemRssBytes?: number;
  oomScoreAdj?: number;
}

/**
 * comm is up to 15 bytes and may hold spaces, parentheses and commas, so the pattern anchors on the fixed
 * text after it (`) total-vm:`). RHEL 7's 3.10 prints `(comm), UID 1000, total-vm:`; 4.5 added shmem-rss;
 * 5.3 added `, UID:%u pgtables:%lukB oom_score_adj:%hd`.
 */
const KILLED =
  /^(?:(.*?): )?Killed process (\d+) \((.*)\),? (?:UID (\d+), )?total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?(?:, UID:(\d+) pgtables:\d+kB oom_score_adj:(-?\d+))?/s;

export function parseKilledProcess(message: string): KilledProcessLine | undefined {
  const m = KILLED.exec(message);
  if (!m) return undefined;
  const kb = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s) * 1024);
  const line: KilledProcessLine = {
    pid: Number(m[2]),
    comm: m[3] as string,
    totalVmBytes: kb(m[5]) as number,
    anonRssBytes: kb(m[6]) as number,
    fileRssBytes: kb(m[7]) as number,
  };
  if (m[1] !== undefined) line.prefix = m[1];
  const uid = m[4] ?? m[9];
  if (uid !== undefined) line.uid = Number(uid);
  if (m[8] !== undefined) line.shmemRssBytes = kb(m[8]) as number;
  if (m[10] !== undefined) line.oomScoreAdj = Number(m[10]);
  return line;
}

/** The `oom-kill:` one-line summary (5.0+), printed with the rate-limited header. */
export interface OomSummaryLine {
  constraint: string;
  /** `global_oom` was printed instead of `oom_memcg=`. */
  global: boolean;
  oomMemcg?: string;
  taskMemcg?: string;
  comm?: string;
  pid?: number;
  uid?: number;
}

/**
 * `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/docker/<id>,
 * task_memcg=/docker/<id>,task=sh,pid=3536,uid=0`. Node lists (`0,2-3`) hold commas and comm may hold
 * anything, so each field is cut at the next known key, and `,pid=N,uid=N` is anchored at the end. A summary
 * cut short (5.0 printed `,oom_memcg=` with pr_info, which starts a new record) parses without pid: the
 * assembler appends the rest when it arrives.
 */
const SUMMARY =
  /^oom-kill:constraint=([A-Z_]*),nodemask=.*?(?:,cpuset=.*?)?(?:,mems_allowed=.*?)?(?:(,global_oom)|,oom_memcg=(.*?))?(?:,task_memcg=(.*?))?(?:,task=(.*),pid=(\d+),uid=(\d+))?$/s;

export function parseOomSummary(message: string): OomSummaryLine | undefined {
  if (!message.startsWith('oom-kill:')) return undefined;
  const m = SUMMARY.exec(message);
  if (!m) return undefined;
  const line: OomSummaryLine = { constraint: m[1] as string, global: m[2] !== undefined };
  if (m[3] !== undefined) line.oomMemcg = m[3];
  if (m[4] !== undefined) line.taskMemcg = m[4];
  if (m[6] !== undefined) {
    line.comm = m[5] as string;
    line.pid = Number(m[6]);
    line.uid = Number(m[7]);
  }
  return line;
}

/** 4.x: `Task in /docker/<id> killed as a result of limit of /docker/<id>`. */
export function parseTaskIn(message: string): { taskMemcg: string; oomMemcg: string } | undefined {
  const m = /^Task in (.*) killed as a result of limit of (.*)$/s.exec(message);
  return m ? { taskMemcg: m[1] as string, oomMemcg: m[2] as string } : undefined;
}

/** 4.x: `Memory cgroup out of memory: Kill process 1234 (java) score 954 or sacrifice child`. */
export function parseKillProcess(message: string): { prefix: string; pid: number; comm: string } | undefined {
  const m = /^(.*?): Kill process (\d+) \((.*)\) score \d+ or sacrifice child$/s.exec(message);
  return m ? { prefix: m[1] as string, pid: Number(m[2]), comm: m[3] as string } : undefined;
}

/** 4.19+: `Tasks in /kubepods.slice/... are going to be killed due to memory.oom.group set`. */
export function parseOomGroup(message: string): string | undefined {
  return /^Tasks in (.*) are going to be killed due to memory\.oom\.group set$/s.exec(message)?.[1];
}

/**
 * The message prefix names what ran out (mm/oom_kill.c out_of_memory). `Out of memory` is also printed for
 * cpuset- and mempolicy-constrained OOMs; only the summary line tells those apart, so without it (rate-limited)
 * a non-memcg OOM is taken as a system OOM. oom_kill_allocating_task changes which process dies, not why.
 */
export function triggerOfPrefix(prefix: string | undefined): OomTrigger | undefined {
  switch (prefix) {
    case 'Memory cgroup out of memory':
      return 'cgroup';
    case 'Out of memory':
    case 'Out of memory (oom_kill_allocating_task)':
      return 'system';
    default:
      return undefined;
  }
}

/**
 * The summary says more than the prefix: a cpuset-constrained OOM prints `global_oom` but is not a system
 * OOM. An `oom_memcg=` makes it a cgroup OOM whatever the constraint: early 5.x kernels printed the summary
 * before setting the constraint (a linux-mm report of 5.0-rc quotes `oom-kill:constraint=CONSTRAINT_NONE,...,
 * oom_memcg=/test1,task_memcg=/test1` followed by `Memory cgroup out of memory: Killed process`).
 */
export function triggerOfConstraint(constraint: string, oomMemcg: string | undefined): OomTrigger {
  if (constraint === 'CONSTRAINT_MEMCG' || oomMemcg !== undefined) return 'cgroup';
  if (constraint === 'CONSTRAINT_NONE') return 'system';
  return 'other'; // CONSTRAINT_CPUSET, CONSTRAINT_MEMORY_POLICY, and whatever a later kernel adds
}

// ---------------------------------------------------------------------------------------------------------
// From records to kills
