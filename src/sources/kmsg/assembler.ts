import type { KernelOomKill } from '../../accounting/observations';
import {
  type KilledProcessLine,
  type OomSummaryLine,
  type OomTrigger,
  parseKillProcess,
  parseKilledProcess,
  parseOomGroup,
  parseOomSummary,
  parseTaskIn,
  triggerOfConstraint,
  triggerOfPrefix,
} from './oom-lines';
import type { KmsgRecord } from './record';

/**
 * The stateful part of reading OOM kills: the records of one OOM event arrive one by one (header, summary or
 * `Task in`, `Kill process`, then one `Killed process` per victim, and the `Tasks in ... memory.oom.group`
 * line between the first victim and the rest), so the context lines are remembered until the kill they
 * describe. Pure apart from that memory: records in, KernelOomKill values out.
 */

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
