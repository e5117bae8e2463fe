import type { KernelOomKill } from '../../accounting/observations';
import { type Parsed, fail, ok, quote } from '../../cgroup/parse';

/**
 * Pure parsing of the kernel log device and of the OOM killer's records in it. No I/O, no logging: the
 * source (../kmsg.ts) reads, this module turns text into records and records into KernelOomKill values.
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

/** One /dev/kmsg record (Documentation/ABI/testing/dev-kmsg). */
export interface KmsgRecord {
  /** syslog level 0 (emerg) .. 7 (debug). */
  level: number;
  facility: number;
  /** Sequence number: +1 per record since boot; a gap means records were overwritten. */
  seq: number;
  /** Microseconds since boot (the kernel's local clock, which stops during suspend). */
  usec: number;
  /** `-`, or `c`/`+` on kernels that store a continued line as several records. */
  flags: string;
  /** The text, with the device's `\xNN` escapes decoded. */
  message: string;
  /** Dictionary lines that follow the text (` SUBSYSTEM=acpi`, ` DEVICE=+acpi:PNP0A08:00`). */
  dict: Record<string, string>;
}

const HEADER = /^(\d+),(\d+),(\d+),([^,;]*)(?:,[^;]*)?$/;
const utf8 = new TextDecoder('utf-8');

/**
 * Decode the device's escapes: every byte below 0x20, at or above 0x7f, and the backslash itself is written
 * as `\xNN` (kernel/printk/printk.c msg_add_ext_text / escape). The bytes are then UTF-8 (a 15-byte comm may end
 * in the middle of a character: that one becomes U+FFFD).
 */
export function unescapeKmsg(text: string): string {
  if (!text.includes('\\x')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // Not from the device (which writes ASCII only): keep the character as UTF-8.
      bytes.push(...Buffer.from(text[i] as string, 'utf8'));
    }
  }
  return utf8.decode(Uint8Array.from(bytes));
}

/**
 * Parse one record as one read() of /dev/kmsg returns it:
 *   `6,426,149384028,-;oom-kill:constraint=CONSTRAINT_MEMCG,...,task=sh,pid=580,uid=0\n`
 * optionally followed by dictionary lines that start with a space (` SUBSYSTEM=acpi\n`). Header fields past the
 * fourth (`,caller=T12` with CONFIG_PRINTK_CALLER) are skipped.
 */
export function parseKmsgRecord(text: string): Parsed<KmsgRecord> {
  const semi = text.indexOf(';');
  if (semi < 0) return fail(`kmsg record without a ";" after its header: ${quote(text)}`);
  const header = HEADER.exec(text.slice(0, semi));
  if (!header) return fail(`kmsg record with a malformed header: ${quote(text)}`);
  const prio = Number(header[1]);
  const seq = Number(header[2]);
  const usec = Number(header[3]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(usec))
    return fail(`kmsg header out of range: ${quote(text)}`);
  const lines = text.slice(semi + 1).split('\n');
  const dict: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith(' ')) continue; // the final empty string after the trailing newline
    const eq = line.indexOf('=');
    if (eq > 1) dict[line.slice(1, eq)] = unescapeKmsg(line.slice(eq + 1));
  }
  return ok({
    level: prio & 7,
    facility: prio >> 3,
    seq,
    usec,
    flags: header[4] as string,
    message: unescapeKmsg(lines[0] as string),
    dict,
  });
}

/**
 * Cuts a byte stream of records into whole records, for a regular file or a pipe standing in for the device
 * (the device itself returns exactly one record per read). A record is a header line and the dictionary
 * lines after it; it is complete when the next header line starts, or at end().
 */
export class KmsgStreamSplitter {
  private partial = '';
  private current: string | undefined;

  /** Feed a chunk; returns the records completed by it. */
  push(chunk: string): string[] {
    const out: string[] = [];
    const text = this.partial + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl + 1);
      start = nl + 1;
      if (line.startsWith(' ')) {
        if (this.current !== undefined) this.current += line;
        continue; // a dictionary line without its record (the stream began mid-record): dropped
      }
      if (this.current !== undefined) out.push(this.current);
      this.current = line;
    }
    this.partial = text.slice(start);
    return out;
  }

  /** The stream has ended (or paused at a record boundary): return the last record held back. */
  end(): string[] {
    const out = this.current === undefined ? [] : [this.current];
    this.current = undefined;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The OOM killer's lines

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

/**
 * What the lines before a `Killed process` line said about its OOM event. 5.x+: the `oom-kill:` summary;
 * 4.x: `Task in` (rate-limited with the header) and `Kill process` (always printed).
 */
interface EventContext {
  trigger?: OomTrigger;
  constraint?: string;
  oomMemcg?: string;
  taskMemcg?: string;
  /** The chosen victim; a different `Killed process` pid gets no taskMemcg (4.x may sacrifice a child). */
  pid?: number;
  uid?: number;
  /** 4.x: a `Kill process` line has been seen for this context (a second one starts a new event). */
  bound: boolean;
  /** 5.0's split summary: waiting for its `,oom_memcg=...` continuation. */
  summaryText?: string;
}

interface Group {
  memcg: string;
  /** usec of the `Tasks in` line or of the last member. */
  lastUsec: number;
  oomMemcg?: string;
  trigger?: OomTrigger;
  constraint?: string;
}

interface HeldKill {
  record: KmsgRecord;
  line: KilledProcessLine;
}

/**
 * Members of a memory.oom.group kill are printed back to back by one kernel loop
 * (mm/oom_kill.c oom_kill_memcg_member); a `Killed process` line further than this after the previous one is
 * not part of the group (a later OOM whose header was rate-limited).
 */
export const GROUP_GAP_USEC = 1_000_000;

/**
 * Turns the sequence of records into kills. Stateful but pure: records in, KernelOomKill values out.
 *
 * - Each `Killed process` line is one kill. The context lines before it (5.x+ `oom-kill:`, 4.x `Task in` +
 *   `Kill process`) give its cgroups when their pid is the victim's; any other record in between is ignored.
 * - The kernel rate-limits the header (including `oom-kill:` and `Task in`) to 10 per 5 s; the `Killed
 *   process` line is never rate-limited. Such a kill has no taskMemcg: it is not guessed from an older line.
 * - `Tasks in G are going to be killed due to memory.oom.group set` follows the first victim's line; the
 *   `Killed process` lines after it are the group's members. Because a rate-limited later OOM prints only its
 *   own `Killed process` line and then, if it is a group kill too, its own `Tasks in` line, a line seen while
 *   a group is open is held until the next OOM record (or flush()) says whether it was a member or the first
 *   victim of the next event.
 * - Older kernels store a continued line as a `c` record and `+` records: they are joined first. A summary
 *   whose tail came as a record of its own (5.0 printed `,oom_memcg=` with pr_info) is joined by its comma.
 */
export class OomRecordAssembler {
  private context: EventContext | undefined;
  private group: Group | undefined;
  private held: HeldKill | undefined;
  /** Kills of the current event by pid, to flag a group member that repeats the first victim. */
  private eventKills = new Map<number, KernelOomKill>();
  private lastKill: KernelOomKill | undefined;
  private cont: KmsgRecord | undefined;

  constructor(
    private readonly boot: { bootId: string; bootTimeMs: number },
    private readonly groupGapUsec: number = GROUP_GAP_USEC,
  ) {}

  /** Feed the next record; returns the kills it completes (usually none). */
  push(record: KmsgRecord): KernelOomKill[] {
    const out: KernelOomKill[] = [];
    if (record.flags === '+' && this.cont) {
      this.cont = { ...this.cont, message: this.cont.message + record.message };
      return out;
    }
    if (this.cont) {
      this.process(this.cont, out);
      this.cont = undefined;
    }
    if (record.flags === 'c') this.cont = record;
    else this.process(record, out);
    return out;
  }

  /**
   * Nothing more has arrived for a while: settle what is held (a continued line, a group member whose
   * successor would have said otherwise). The source calls this when a poll finds no new record.
   */
  flush(): KernelOomKill[] {
    const out: KernelOomKill[] = [];
    if (this.cont) {
      this.process(this.cont, out);
      this.cont = undefined;
    }
    this.settleHeld(out);
    return out;
  }

  /** Records were lost (EPIPE, a seq gap): what was pending may belong to an event whose end is gone. */
  recordsLost(): KernelOomKill[] {
    const out = this.flush();
    this.endEvent();
    return out;
  }

  /** The seq of the oldest kill read but not yet returned: a persisted cursor must stay below it. */
  oldestPendingSeq(): number | undefined {
    return this.held?.record.seq;
  }

  private process(record: KmsgRecord, out: KernelOomKill[]): void {
    const msg = record.message;

    const killed = msg.includes('Killed process ') ? parseKilledProcess(msg) : undefined;
    if (killed) {
      if (this.group) {
        this.settleHeld(out);
        if (this.group) {
          this.held = { record, line: killed };
          return;
        }
      }
      out.push(this.kill(record, killed));
      return;
    }

    if (msg.startsWith('oom-kill:')) {
      this.startEvent(out);
      const summary = parseOomSummary(msg);
      if (summary) this.context = this.summaryContext(summary, msg);
      return;
    }
    if (msg.startsWith(',') && this.context?.summaryText !== undefined) {
      const text = this.context.summaryText + msg;
      const summary = parseOomSummary(text);
      if (summary) this.context = this.summaryContext(summary, text);
      return;
    }
    if (msg.includes(' invoked oom-killer: ')) {
      this.startEvent(out);
      return;
    }
    const taskIn = msg.startsWith('Task in ') ? parseTaskIn(msg) : undefined;
    if (taskIn) {
      this.startEvent(out);
      this.context = {
        trigger: 'cgroup',
        oomMemcg: taskIn.oomMemcg,
        taskMemcg: taskIn.taskMemcg,
        bound: false,
      };
      return;
    }
    const killProcess = msg.includes(': Kill process ') ? parseKillProcess(msg) : undefined;
    if (killProcess) {
      const trigger = triggerOfPrefix(killProcess.prefix);
      if (this.context && !this.context.bound && this.context.summaryText === undefined) {
        // The `Task in` line of this same event (printed just before, by dump_header).
        this.context.bound = true;
        this.context.pid = killProcess.pid;
        if (trigger) this.context.trigger = trigger;
      } else {
        this.startEvent(out);
        this.context = { pid: killProcess.pid, bound: true, ...(trigger ? { trigger } : {}) };
      }
      return;
    }
    const groupMemcg = msg.startsWith('Tasks in ') ? parseOomGroup(msg) : undefined;
    if (groupMemcg !== undefined) {
      if (this.held) {
        // The held line was the first victim of this new event, not a member of the previous group.
        const { record: victimRecord, line } = this.held;
        this.held = undefined;
        this.endEvent();
        out.push(this.kill(victimRecord, line));
      }
      // The first victim was printed just before; if a group is still open, that line never came (it was
      // skipped as already exiting) and the last kill belongs to the previous group.
      const first = this.group ? undefined : this.lastKill;
      this.group = { memcg: groupMemcg, lastUsec: record.usec };
      if (first?.oomMemcg !== undefined) this.group.oomMemcg = first.oomMemcg;
      if (first && first.trigger !== 'unknown') this.group.trigger = first.trigger;
      if (first?.constraint !== undefined) this.group.constraint = first.constraint;
      return;
    }
    if (msg.includes(' is already exiting. Skip killing the task') && !this.group) {
      // 5.x+: the chosen victim exited before the kill: its summary must not attach to a later line. (Within
      // a group the same line reports a member that is already gone.)
      this.context = undefined;
      this.eventKills = new Map();
      this.lastKill = undefined;
    }
  }

  private summaryContext(summary: OomSummaryLine, text: string): EventContext {
    const ctx: EventContext = {
      constraint: summary.constraint,
      trigger: triggerOfConstraint(summary.constraint, summary.oomMemcg),
      bound: true,
    };
    if (summary.oomMemcg !== undefined) ctx.oomMemcg = summary.oomMemcg;
    if (summary.taskMemcg !== undefined) ctx.taskMemcg = summary.taskMemcg;
    if (summary.pid === undefined) ctx.summaryText = text;
    else {
      ctx.pid = summary.pid;
      ctx.uid = summary.uid;
    }
    return ctx;
  }

  /** A record that only the start of a new OOM event prints. */
  private startEvent(out: KernelOomKill[]): void {
    this.settleHeld(out);
    this.endEvent();
  }

  private endEvent(): void {
    this.context = undefined;
    this.group = undefined;
    this.eventKills = new Map();
    this.lastKill = undefined;
  }

  /** Decide the held line: a member of the open group if close enough to it, else a kill of its own. */
  private settleHeld(out: KernelOomKill[]): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    const group = this.group;
    if (group && held.record.usec - group.lastUsec <= this.groupGapUsec) {
      group.lastUsec = held.record.usec;
      out.push(this.kill(held.record, held.line, group));
      return;
    }
    this.endEvent();
    out.push(this.kill(held.record, held.line));
  }

  private kill(record: KmsgRecord, line: KilledProcessLine, group?: Group): KernelOomKill {
    const kill: KernelOomKill = {
      bootId: this.boot.bootId,
      seq: record.seq,
      timeMs: Math.round(this.boot.bootTimeMs + record.usec / 1000),
      trigger: 'unknown',
      victim: {
        pid: line.pid,
        comm: line.comm,
        totalVmBytes: line.totalVmBytes,
        anonRssBytes: line.anonRssBytes,
        fileRssBytes: line.fileRssBytes,
      },
    };
    if (line.uid !== undefined) kill.victim.uid = line.uid;
    if (line.shmemRssBytes !== undefined) kill.victim.shmemRssBytes = line.shmemRssBytes;
    if (line.oomScoreAdj !== undefined) kill.victim.oomScoreAdj = line.oomScoreAdj;

    let contextTrigger: OomTrigger | undefined;
    if (group) {
      kill.groupKill = true;
      kill.groupMemcg = group.memcg;
      if (group.oomMemcg !== undefined) kill.oomMemcg = group.oomMemcg;
      if (group.constraint !== undefined) kill.constraint = group.constraint;
      contextTrigger = group.trigger;
      const earlier = this.eventKills.get(line.pid);
      if (earlier) {
        kill.repeatOfSeq = earlier.seq;
        if (earlier.taskMemcg !== undefined) kill.taskMemcg = earlier.taskMemcg;
      }
    } else {
      const ctx = this.context;
      this.context = undefined; // one context, one victim
      this.eventKills = new Map();
      if (ctx && ctx.summaryText === undefined) {
        if (ctx.pid === line.pid) {
          if (ctx.taskMemcg !== undefined) kill.taskMemcg = ctx.taskMemcg;
          if (ctx.oomMemcg !== undefined) kill.oomMemcg = ctx.oomMemcg;
          if (ctx.constraint !== undefined) kill.constraint = ctx.constraint;
          if (kill.victim.uid === undefined && ctx.uid !== undefined) kill.victim.uid = ctx.uid;
          contextTrigger = ctx.trigger;
        } else if (ctx.constraint === undefined) {
          // 4.x: `Kill process P` then `Killed process C` is one oom_kill_process call that sacrificed a
          // child C of P. Same OOM (limit and trigger); C's own cgroup is not printed.
          if (ctx.oomMemcg !== undefined) kill.oomMemcg = ctx.oomMemcg;
          contextTrigger = ctx.trigger;
        }
      }
    }
    // The constraint says most, then the line's own prefix, then the context lines (4.x).
    kill.trigger =
      (kill.constraint !== undefined ? triggerOfConstraint(kill.constraint, kill.oomMemcg) : undefined) ??
      triggerOfPrefix(line.prefix) ??
      contextTrigger ??
      'unknown';
    if (!this.eventKills.has(line.pid)) this.eventKills.set(line.pid, kill);
    this.lastKill = kill;
    return kill;
  }
}
