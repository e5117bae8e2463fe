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
  unfinishedOomLine,
  continuesOomLine,
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
 * What the lines before a `Killed process` line said about its OOM event. 5.0+: the `oom-kill:` summary;
 * 3.10 .. 4.20: `Task in` (both rate-limited with the header); 3.10 .. 5.0: `Kill process` (never rate-limited).
 */
interface EventContext {
  trigger?: OomTrigger;
  constraint?: string;
  oomMemcg?: string;
  taskMemcg?: string;
  /** The process the OOM killer chose (summary `pid=`, `Kill process P`). */
  pid?: number;
  uid?: number;
  /**
   * The event's `Kill process P ... or sacrifice child` line (3.10 .. 5.0) has been seen: the victim line that
   * follows is P or a child of P killed in its place, in the same cgroup OOM.
   */
  killLine: boolean;
}

interface Group {
  memcg: string;
  /** usec of the `Tasks in` line or of the last member. */
  lastUsec: number;
  oomMemcg?: string;
  trigger?: OomTrigger;
  constraint?: string;
}

/**
 * A `Killed process` line whose meaning the next record may change:
 * - `member`: read while a group was open: a member of it, or the first victim of the next event.
 * - `first`: a kill with no cgroup of its own (its summary was rate-limited): if a `Tasks in G` line follows, it
 *   was the first victim of that group kill and is in G.
 */
type HeldKill =
  | { kind: 'member'; record: KmsgRecord; line: KilledProcessLine }
  | { kind: 'first'; record: KmsgRecord; kill: KernelOomKill };

/**
 * Members of a memory.oom.group kill are printed back to back by one kernel loop
 * (mm/oom_kill.c oom_kill_memcg_member), and the `Tasks in` line right after the first victim; a `Killed
 * process` line further than this after the previous one is not part of the group (a later OOM whose header
 * was rate-limited), and a held line is settled by any record this much later than it.
 */
export const GROUP_GAP_USEC = 1_000_000;

/**
 * Turns the sequence of records into kills. Stateful but pure: records in, KernelOomKill values out.
 *
 * - Each `Killed process` line is one kill. The context lines before it (5.0+ `oom-kill:`, 3.10 .. 4.20
 *   `Task in`, 3.10 .. 5.0 `Kill process`) give its cgroups when their pid is the victim's; any other record in
 *   between is ignored.
 * - Up to 5.0 the kernel may kill a child C of the process P it chose (`Kill process P ... or sacrifice
 *   child`, then `Killed process C`). `Task in` and the summary describe P; C gets the limit's cgroup
 *   (oomMemcg), the constraint and the trigger, not P's taskMemcg, pid or uid. 5.0 prints the summary before
 *   `Kill process`: both are one event.
 * - The kernel rate-limits the header (including `oom-kill:` and `Task in`) to 10 per 5 s; the `Killed
 *   process` line is never rate-limited. Such a kill has no taskMemcg: it is not guessed from an older line.
 * - `Tasks in G are going to be killed due to memory.oom.group set` follows the first victim's line; the
 *   `Killed process` lines after it are the group's members. A kill without a cgroup of its own is held until
 *   the next OOM record (or flush(), or a record a second later) says whether a `Tasks in G` line follows: then
 *   it gets groupMemcg G (the kernel takes the group on the path from the victim's memcg up, so the victim is in
 *   G). A rate-limited later OOM prints only its own `Killed process` line and then, if it is a group kill
 *   too, its own `Tasks in` line, so a line seen while a group is open is held as well, until the next record
 *   says whether it was a member or the first victim of the next event.
 * - A line printed in pieces may come as two records when another task or CPU printed in between: the
 *   summary, `Task in` and `Tasks in` heads wait for their rest (continuesOomLine says which record that is).
 *   Older kernels store a continued line as a `c` record and `+` records: they are joined first.
 */
export class OomRecordAssembler {
  private context: EventContext | undefined;
  private group: Group | undefined;
  private held: HeldKill | undefined;
  /** Kills of the current event by pid, to flag a group member that repeats the first victim. */
  private eventKills = new Map<number, KernelOomKill>();
  private lastKill: KernelOomKill | undefined;
  /** 3.x: a `c` record, to which the `+` records that follow belong. */
  private cont: KmsgRecord | undefined;
  /** The head of a summary, `Task in` or `Tasks in` line whose rest has not come yet. */
  private head: KmsgRecord | undefined;

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
      const cont = this.cont;
      this.cont = undefined;
      this.take(cont, out);
    }
    if (record.flags === 'c' && this.head === undefined) this.cont = record;
    else this.take(record, out);
    return out;
  }

  /**
   * Nothing more has arrived for a while: settle what is held (a continued line, a kill whose successor would
   * have said otherwise). The source calls this when a poll finds no new record. A line's head keeps waiting
   * for its rest, which the same task prints right after (the read may have come between the two).
   */
  flush(): KernelOomKill[] {
    const out: KernelOomKill[] = [];
    if (this.cont) {
      const cont = this.cont;
      this.cont = undefined;
      this.take(cont, out);
    }
    this.settleHeld(out);
    return out;
  }

  /** Records were lost (EPIPE, a seq gap): what was pending may belong to an event whose end is gone. */
  recordsLost(): KernelOomKill[] {
    const out = this.flush();
    this.abandonHead(out);
    this.settleHeld(out);
    this.endEvent();
    return out;
  }

  /** The seq of the oldest kill read but not yet returned: a persisted cursor must stay below it. */
  oldestPendingSeq(): number | undefined {
    return this.held?.record.seq;
  }

  /** Join a record to the line it continues, or keep it as the head of one, or process it. */
  private take(record: KmsgRecord, out: KernelOomKill[]): void {
    const head = this.head;
    if (head) {
      if (continuesOomLine(head.message, record)) {
        const joined = { ...head, message: head.message + record.message };
        this.head = undefined;
        if (unfinishedOomLine(joined.message) !== undefined) this.head = joined;
        else this.process(joined, out);
        return;
      }
      // The same task prints the rest before its next OOM line: one of those means the rest never came.
      if (isOomRecord(record.message)) this.abandonHead(out);
    }
    if (unfinishedOomLine(record.message) !== undefined) {
      this.abandonHead(out);
      this.head = record;
      return;
    }
    this.process(record, out);
  }

  /** A head whose rest will not come: what it says is taken as it is. */
  private abandonHead(out: KernelOomKill[]): void {
    const head = this.head;
    this.head = undefined;
    if (head) this.process(head, out);
  }

  private process(record: KmsgRecord, out: KernelOomKill[]): void {
    const msg = record.message;
    if (this.held && record.usec - this.held.record.usec > this.groupGapUsec) this.settleHeld(out);

    const killed = msg.includes('Killed process ') ? parseKilledProcess(msg) : undefined;
    if (killed) {
      this.settleHeld(out);
      if (this.group) {
        this.held = { kind: 'member', record, line: killed };
        return;
      }
      const kill = this.kill(record, killed);
      if (kill.taskMemcg === undefined) this.held = { kind: 'first', record, kill };
      else out.push(kill);
      return;
    }

    const groupMemcg = msg.startsWith('Tasks in ') ? parseOomGroup(msg) : undefined;
    if (groupMemcg !== undefined) {
      this.openGroup(record, groupMemcg, out);
      return;
    }

    if (msg.startsWith('oom-kill:')) {
      this.startEvent(out);
      const summary = parseOomSummary(msg);
      // A summary cut short (its rest lost with other records) cannot be matched with its victim.
      if (summary?.pid !== undefined) this.context = summaryContext(summary);
      return;
    }
    if (msg.includes(' invoked oom-killer: ')) {
      this.startEvent(out);
      return;
    }
    if (msg.startsWith('Task in ')) {
      this.startEvent(out);
      const taskIn = parseTaskIn(msg);
      if (taskIn) this.context = { trigger: 'cgroup', ...taskIn, killLine: false };
      return;
    }
    const killProcess = msg.includes(': Kill process ') ? parseKillProcess(msg) : undefined;
    if (killProcess) {
      this.settleHeld(out);
      const trigger = triggerOfPrefix(killProcess.prefix);
      const ctx = this.context;
      if (ctx && !ctx.killLine && (ctx.pid === undefined || ctx.pid === killProcess.pid)) {
        // The `Task in` line (3.10 .. 4.20) or the summary (5.0) of this same event, printed just before by
        // dump_header(); the summary already named the pid.
        ctx.killLine = true;
        ctx.pid = killProcess.pid;
        if (trigger && ctx.constraint === undefined) ctx.trigger = trigger;
      } else {
        this.startEvent(out);
        this.context = { pid: killProcess.pid, killLine: true, ...(trigger ? { trigger } : {}) };
      }
      return;
    }
    if (msg.includes(' is already exiting. Skip killing the task') && !this.group) {
      // 5.x+: the chosen victim exited before the kill: its summary must not attach to a later line. (Within
      // a group the same line reports a member that is already gone.)
      this.settleHeld(out);
      this.context = undefined;
      this.eventKills = new Map();
      this.lastKill = undefined;
    }
  }

  /**
   * `Tasks in G ...`: the kill just before was the group's first victim; the `Killed process` lines that follow
   * are its members.
   */
  private openGroup(record: KmsgRecord, memcg: string, out: KernelOomKill[]): void {
    const held = this.held;
    this.held = undefined;
    let first: KernelOomKill | undefined;
    if (held) {
      if (held.kind === 'member') {
        // The held line was the first victim of this new event, not a member of the previous group.
        this.endEvent();
        first = this.kill(held.record, held.line);
      } else first = held.kill;
      // Its summary, had it been printed, would have named its own cgroup: the group's is the next best.
      if (first.taskMemcg === undefined) first.groupMemcg = memcg;
      out.push(first);
    } else {
      // The first victim was printed just before; if a group is still open, that line never came (it was
      // skipped as already exiting) and the last kill belongs to the previous group.
      first = this.group ? undefined : this.lastKill;
    }
    this.group = { memcg, lastUsec: record.usec };
    if (first?.oomMemcg !== undefined) this.group.oomMemcg = first.oomMemcg;
    if (first && first.trigger !== 'unknown') this.group.trigger = first.trigger;
    if (first?.constraint !== undefined) this.group.constraint = first.constraint;
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

  /**
   * Decide the held line: a member of the open group if close enough to it, else a kill of its own; a held
   * first victim that no `Tasks in` line followed is a kill of its own. Called when the next record is not a
   * `Tasks in` line (that one goes to openGroup).
   */
  private settleHeld(out: KernelOomKill[]): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    if (held.kind === 'first') {
      out.push(held.kill);
      return;
    }
    const group = this.group;
    if (group && held.record.usec - group.lastUsec <= this.groupGapUsec) {
      group.lastUsec = held.record.usec;
      out.push(this.kill(held.record, held.line, group));
      return;
    }
    // Too late for the group: the first victim of a later event, which no `Tasks in` line followed.
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
      if (ctx) {
        if (ctx.pid === line.pid) {
          if (ctx.taskMemcg !== undefined) kill.taskMemcg = ctx.taskMemcg;
          if (ctx.oomMemcg !== undefined) kill.oomMemcg = ctx.oomMemcg;
          if (ctx.constraint !== undefined) kill.constraint = ctx.constraint;
          if (kill.victim.uid === undefined && ctx.uid !== undefined) kill.victim.uid = ctx.uid;
          contextTrigger = ctx.trigger;
        } else if (ctx.killLine || ctx.constraint === undefined) {
          // `Kill process P` then `Killed process C`: one oom_kill_process() call that sacrificed a child C of
          // P (up to 5.0). Same OOM (limit, constraint and trigger); C's own cgroup is not printed, and the
          // summary's pid, uid and task_memcg are P's.
          if (ctx.oomMemcg !== undefined) kill.oomMemcg = ctx.oomMemcg;
          if (ctx.constraint !== undefined) kill.constraint = ctx.constraint;
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

function summaryContext(summary: OomSummaryLine): EventContext {
  const ctx: EventContext = {
    constraint: summary.constraint,
    trigger: triggerOfConstraint(summary.constraint, summary.oomMemcg),
    killLine: false,
  };
  if (summary.oomMemcg !== undefined) ctx.oomMemcg = summary.oomMemcg;
  if (summary.taskMemcg !== undefined) ctx.taskMemcg = summary.taskMemcg;
  if (summary.pid !== undefined) ctx.pid = summary.pid;
  if (summary.uid !== undefined) ctx.uid = summary.uid;
  return ctx;
}

/** Whether a record is one of the OOM killer's lines that the assembler acts on. */
function isOomRecord(msg: string): boolean {
  return (
    msg.includes('Killed process ') ||
    msg.includes(': Kill process ') ||
    msg.includes(' invoked oom-killer: ') ||
    msg.includes(' is already exiting. Skip killing the task') ||
    msg.startsWith('oom-kill:') ||
    msg.startsWith('Task in ') ||
    msg.startsWith('Tasks in ')
  );
}
