import type { KernelOomKill } from '../../accounting/observations';

/**
 * Pure parsers of the OOM killer's lines in the kernel log, one function per line. No I/O, no logging: the
 * source (source.ts) reads, record.ts cuts records, assembler.ts joins these lines into kills.
 *
 * Each parser quotes the kernel's format string with the file and function that prints it, and one sample
 * line. What changed between kernels, as the fixtures of test/fixtures/kmsg/<era>/ follow it (their
 * SOURCES.md quote the source lines):
 *   3.10 .. 4.20  `Task in %cgroup killed as a result of limit of %cgroup` (mm/memcontrol.c
 *                 mem_cgroup_print_oom_info; rate-limited with the header), then, never rate-limited,
 *                 `%s: Kill process %d (%s) score %u or sacrifice child` and `Killed process %d (%s) total-vm:...`
 *                 (mm/oom_kill.c oom_kill_process). 4.5 added shmem-rss to the victim line.
 *   4.19          memory.oom.group (cgroup v2): `Tasks in %cgroup are going to be killed due to memory.oom.group set`
 *                 (mm/memcontrol.c mem_cgroup_print_oom_group), then one `Killed process` per member.
 *   5.0           the `oom-kill:constraint=...` summary replaces `Task in` (mm/oom_kill.c dump_oom_summary, last
 *                 line of the rate-limited header); `Kill process ... or sacrifice child` is still printed.
 *   5.1           `Kill process` removed; the victim line gets the `%s: ` prefix.
 *   5.3           `, UID:%u` at the end of the victim line.
 *   5.4           ` pgtables:%lukB oom_score_adj:%hd` after it (70cb6d267790).
 *   6.x           the same lines (dump_oom_summary renamed dump_oom_victim in 6.12).
 * The prefix `%s` is "Memory cgroup out of memory", "Out of memory" or "Out of memory (oom_kill_allocating_task)"
 * (mm/oom_kill.c out_of_memory, mm/memcontrol.c mem_cgroup_out_of_memory).
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
 * text after it (`) total-vm:`). The tail grew over the years: shmem-rss in 4.5, `, UID:%u` in 5.3,
 * ` pgtables:%lukB oom_score_adj:%hd` in 5.4; RHEL 7's 3.10 puts `, UID %u` after the comm instead.
 */
const KILLED =
  /^(?:(.*?): )?Killed process (\d+) \((.*)\),? (?:UID (\d+), )?total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?(?:, UID:(\d+)(?: pgtables:\d+kB oom_score_adj:(-?\d+))?)?/s;

/**
 * The victim line, one per killed process (mm/oom_kill.c __oom_kill_process; oom_kill_process before 4.19),
 * printed next to `count_vm_event(OOM_KILL)` and, from 4.13, `count_memcg_event_mm(mm, OOM_KILL)`: exactly one
 * per increment of vmstat and cgroup `oom_kill`. Never rate-limited. Its shapes:
 *   3.10  `Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB, file-rss:%lukB`
 *   4.5   `... file-rss:%lukB, shmem-rss:%lukB`
 *   5.1   `%s: Killed process %d (%s) total-vm:...` (the OOM's message as prefix)
 *   5.3   `... shmem-rss:%lukB, UID:%u`
 *   5.4   `... shmem-rss:%lukB, UID:%u pgtables:%lukB oom_score_adj:%hd` (5.10 mm/oom_kill.c:927)
 *   RHEL 7 `Killed process %d (%s), UID %u, total-vm:...` (from its logs; its source was not available)
 * e.g. `Memory cgroup out of memory: Killed process 580 (sh) total-vm:39136kB, anon-rss:31872kB,
 * file-rss:1392kB, shmem-rss:0kB, UID:0 pgtables:116kB oom_score_adj:0`.
 *
 * Look-alikes that are not kills and do not match:
 * - `oom_reaper: reaped process 4321 (java), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB` (mm/oom_kill.c
 *   oom_reap_task_mm, 4.6+: `pr_info("oom_reaper: reaped process %d (%s), now anon-rss:%lukB, file-rss:%lukB,
 *   shmem-rss:%lukB\n", ...)`, 5.10 mm/oom_kill.c:602). The reaper frees the memory of a task already marked
 *   as an OOM victim. Alone, without a `Killed process` line, it reports a task that was dying anyway: the
 *   `task_will_free_mem()` paths of oom_kill_process() and out_of_memory() mark it and queue it for the reaper
 *   without printing, and __oom_kill_process(), the only place that counts OOM_KILL and MEMCG_OOM_KILL, is not
 *   called (test/fixtures/kmsg/4.19/reaper-only.txt). Never a kill, with or without its `Killed process` line.
 * - `Kill process %d (%s) sharing same memory` (3.x): a SIGKILL to another process using the victim's mm;
 *   later kernels kill those silently and none counts them in `oom_kill`.
 */
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

const SUMMARY =
  /^oom-kill:constraint=([A-Z_]*),nodemask=.*?(?:,cpuset=.*?)?(?:,mems_allowed=.*?)?(?:(,global_oom)|,oom_memcg=(.*?))?(?:,task_memcg=(.*?))?(?:,task=(.*),pid=(\d+),uid=(\d+))?$/s;

/**
 * The summary (5.0+, mm/oom_kill.c dump_oom_summary, dump_oom_victim in 6.12), last line of the rate-limited
 * header, built from pieces: `pr_info("oom-kill:constraint=%s,nodemask=%*pbl", ...)`, `,cpuset=` + the cpuset
 * name + `,mems_allowed=%*pbl` (kernel/cgroup/cpuset.c cpuset_print_current_mems_allowed), `,oom_memcg=` + path
 * or `,global_oom`, `,task_memcg=` + path (mm/memcontrol.c mem_cgroup_print_oom_context),
 * `pr_cont(",task=%s,pid=%d,uid=%d\n", ...)`; task, pid and uid are those of the process the OOM killer chose.
 * e.g. `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/docker/<id>,
 * task_memcg=/docker/<id>,task=sh,pid=3536,uid=0`. Node lists (`0,2-3`) hold commas and comm may hold anything,
 * so each field is cut at the next known key, and `,pid=N,uid=N` is anchored at the end. The head of a summary
 * whose rest came as another record parses without pid (see continuesOomLine).
 */
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

const TASK_IN = /^Task in (.+) killed as a result of limit of (.+)$/s;

/**
 * 3.10 .. 4.20 (mm/memcontrol.c mem_cgroup_print_oom_info, rate-limited with the header): the memory cgroup
 * of the process the OOM killer chose, and the cgroup whose limit was hit. 3.10: `pr_info("Task in %s killed",
 * ...)` + `pr_cont(" as a result of limit of %s\n", ...)`; 3.16+: `pr_info("Task in ")`, the path
 * (pr_cont_cgroup_path), `pr_cont(" killed as a result of limit of ")`, the path, `pr_cont("\n")`.
 * e.g. `Task in /docker/<id> killed as a result of limit of /docker/<id>`.
 */
export function parseTaskIn(message: string): { taskMemcg: string; oomMemcg: string } | undefined {
  const m = TASK_IN.exec(message);
  return m ? { taskMemcg: m[1] as string, oomMemcg: m[2] as string } : undefined;
}

/**
 * 3.10 .. 5.0 (mm/oom_kill.c oom_kill_process, after the rate-limited header, never rate-limited itself):
 * `pr_err("%s: Kill process %d (%s) score %u or sacrifice child\n", message, task_pid_nr(p), p->comm, points)`
 * (`score %d` in 3.10) names the chosen process; the kernel may then kill a child of it instead (the
 * `Killed process` line says which). Removed in 5.1 (bbbe48029720).
 * e.g. `Memory cgroup out of memory: Kill process 1234 (java) score 954 or sacrifice child`.
 */
export function parseKillProcess(message: string): { prefix: string; pid: number; comm: string } | undefined {
  const m = /^(.*?): Kill process (\d+) \((.*)\) score -?\d+ or sacrifice child$/s.exec(message);
  return m ? { prefix: m[1] as string, pid: Number(m[2]), comm: m[3] as string } : undefined;
}

const GROUP_TAIL = ' are going to be killed due to memory.oom.group set';

/**
 * 4.19+ (mm/memcontrol.c mem_cgroup_print_oom_group, cgroup v2 only, never rate-limited):
 * `pr_info("Tasks in ")`, the path, `pr_cont(" are going to be killed due to memory.oom.group set\n")`, printed
 * after the first victim's `Killed process` line and before those of the group's members.
 * e.g. `Tasks in /kubepods.slice/.../cri-containerd-<id>.scope are going to be killed due to memory.oom.group set`.
 */
export function parseOomGroup(message: string): string | undefined {
  if (!message.startsWith('Tasks in ') || !message.endsWith(GROUP_TAIL)) return undefined;
  const memcg = message.slice('Tasks in '.length, -GROUP_TAIL.length);
  return memcg.length > 0 ? memcg : undefined;
}

/** The OOM lines printed in pieces (pr_cont) that the assembler needs whole. */
export type PiecedOomLine = 'summary' | 'task-in' | 'group';

/**
 * Whether a record holds only the head of a line printed in pieces, which of the three, or undefined when it is
 * whole (or another line). The last piece of each is fixed text, so a whole line is recognised by its end:
 * `,task=%s,pid=%d,uid=%d`, ` killed as a result of limit of ` + path, ` ... memory.oom.group set`.
 */
export function unfinishedOomLine(message: string): PiecedOomLine | undefined {
  if (message.startsWith('oom-kill:')) return /,pid=\d+,uid=\d+$/.test(message) ? undefined : 'summary';
  if (message.startsWith('Task in ')) return TASK_IN.test(message) ? undefined : 'task-in';
  if (message.startsWith('Tasks in ')) return message.endsWith(GROUP_TAIL) ? undefined : 'group';
  return undefined;
}

/** The part of a continued record the joiner looks at. */
export interface LinePiece {
  level: number;
  flags: string;
  message: string;
}

/**
 * Whether `tail` is the rest of the unfinished OOM line `head` (see unfinishedOomLine), cut off by a record of
 * another task or CPU in between (kernel/printk/printk.c; test/fixtures/kmsg/ERAS.md and the eras' SOURCES.md):
 * - 4.9+ (every kernel with the summary or memory.oom.group, and 4.9 .. 4.20's `Task in`): the head is a `-`
 *   record and the rest is ONE record flagged `c` (4.9 .. 5.9: `msg->flags & LOG_CONT ? 'c' : '-'` in
 *   msg_print_ext_header; 5.10+ info_print_ext_header, 5.10 printk.c:609). It may begin at any piece: a comma,
 *   a cgroup path (pr_cont_cgroup_path is a piece of its own), the cpuset name.
 * - 3.5 .. 4.8 (`Task in` only): both records are `-`; the rest, printed without a level, is stored at the
 *   default level 4 (vprintk_emit: `if (cont.len && (lflags & LOG_PREFIX || cont.owner != current))
 *   cont_flush(LOG_NEWLINE);`).
 * - The 5.0 summary as first posted printed `,oom_memcg=` and `,global_oom` with pr_info (a `-` record).
 * The tail must also be a piece that can follow the head's last one: a path after `Task in `, `limit of `,
 * `oom_memcg=` or `task_memcg=`, the fixed text that follows a path, or a comma-led summary piece. Anything else
 * is another record and the head keeps waiting.
 */
export function continuesOomLine(head: string, tail: LinePiece): boolean {
  const kind = unfinishedOomLine(head);
  if (kind === undefined) return false;
  const text = tail.message;
  if (tail.flags !== 'c') {
    if (tail.flags !== '-') return false;
    if (kind === 'summary') return text.startsWith(',oom_memcg=') || text.startsWith(',global_oom');
    // 3.5 .. 4.8: a bare path is taken only at the level a piece without a level prefix gets.
    if (kind !== 'task-in' || (text.startsWith('/') && tail.level !== 4)) return false;
  }
  switch (kind) {
    case 'summary':
      if (head.endsWith('oom_memcg=') || head.endsWith('task_memcg=')) return text.startsWith('/');
      if (head.endsWith(',cpuset=')) return text.length > 0 && !text.startsWith(',');
      return SUMMARY_PIECES.some((p) => text.startsWith(p));
    case 'task-in':
      if (head === 'Task in ' || head.endsWith(' limit of ')) return text.startsWith('/');
      if (head.endsWith(' killed')) return text.startsWith(' as a result of limit of ');
      return text.startsWith(' killed as a result of limit of ');
    case 'group':
      if (head === 'Tasks in ') return text.startsWith('/');
      return text === GROUP_TAIL;
  }
}

/** The summary's pieces that begin with a comma (each a pr_cont of its own). */
const SUMMARY_PIECES = [',cpuset=', ',mems_allowed=', ',oom_memcg=', ',global_oom', ',task_memcg=', ',task='];

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
 * OOM. An `oom_memcg=` makes it a cgroup OOM whatever the constraint: 5.0 and 5.1 print the summary before
 * setting oc->constraint, so every summary of theirs says CONSTRAINT_NONE, memcg OOMs included (fixed by
 * 432b1de0de02 "mm/oom_kill.c: fix uninitialized oc->constraint" in 5.2 and 5.1.y, whose changelog quotes
 * `oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/foo,task_memcg=/foo,...`).
 */
export function triggerOfConstraint(constraint: string, oomMemcg: string | undefined): OomTrigger {
  if (constraint === 'CONSTRAINT_MEMCG' || oomMemcg !== undefined) return 'cgroup';
  if (constraint === 'CONSTRAINT_NONE') return 'system';
  return 'other'; // CONSTRAINT_CPUSET, CONSTRAINT_MEMORY_POLICY, and whatever a later kernel adds
}

// ---------------------------------------------------------------------------------------------------------
// From records to kills
