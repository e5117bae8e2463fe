import type { Logger } from 'pino';
import type { ContainerEntry, ContainerTable } from '../state/containers';
import type { RuntimeExitEvent, RuntimeName } from './observations';

/** Where exits are written (the state store). */
export interface ExitSink {
  exit(entry: ContainerEntry, exitCode: number, oomKilled: boolean, timeMs: number): void;
  /** Counters changed; persist soon. */
  dirty(entry: ContainerEntry | undefined): void;
}

export interface ExitClassifierOptions {
  table: ContainerTable;
  log: Logger;
  sink?: ExitSink;
  /** How far after a die a kill may be timestamped and still belong to that run (the ledger's match window). */
  matchWindowMs: number;
  /** How long a die waits for its OOM evidence before the exit is recorded as not OOM-killed. */
  dieGraceMs?: number;
  /** Called when an exit starts waiting for its evidence (see LedgerOptions.onWaiting). */
  onWaiting?: () => void;
  /**
   * Whether the kernel log currently delivers. An exit of a runtime that reports no OOM (Podman) has no other
   * prompt witness: with the kernel log down it waits for a read of its cgroup (see ExitClassifier.tick).
   */
  kmsgUp?: () => boolean;
  now?: () => number;
}

/** Runtimes that never report an OOM: their exits are OOM-killed on the kernel's or the cgroup's word alone. */
const NO_OOM_EVENTS: ReadonlySet<RuntimeName> = new Set<RuntimeName>(['podman']);
/** Exits remembered to recognise one told twice (two sockets of one Podman); far more than exit at once. */
const RECENT_EXITS = 1024;

interface PendingDie {
  ev: RuntimeExitEvent;
  receivedMs: number;
}

/**
 * Container exits, kept apart from kills: oomwatch_container_exits_total{exit_code, oom_killed}. An exit was
 * OOM-killed (as Docker's State.OOMKilled means it: an OOM during this run) when a kill or a runtime OOM event
 * (Docker `oom`, containerd TaskOOM) of the container came after its start: containerd's TaskExit has no OOM flag,
 * and its CRI plugin decides OOMKilled the same way. A 137 from `docker kill` or `ctr task kill -s SIGKILL` is an
 * exit, not an OOM kill.
 */
export class ExitClassifier {
  private pendingDies: PendingDie[] = [];
  /** `<id>|<time>` of the exits recorded or waiting: the same exit from a second source is not another. */
  private readonly recentExits = new Set<string>();

  constructor(private readonly opts: ExitClassifierOptions) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  onStart(id: string, timeMs: number): void {
    const entry = this.opts.table.ensure(id, this.now());
    entry.runStartMs = timeMs;
  }

  /**
   * An exit. `oom` and `die` race on cgroup v2, so an exit without OOM evidence waits a moment (dieGraceMs)
   * before it is recorded. The same exit (container and time) told again is dropped: a host whose Podman
   * answers on two sockets given as --docker-socket and --podman-socket reports each exit on both.
   */
  onExit(ev: RuntimeExitEvent): void {
    const key = `${ev.id}|${ev.timeMs}`;
    if (this.recentExits.has(key)) return;
    this.recentExits.add(key);
    if (this.recentExits.size > RECENT_EXITS)
      this.recentExits.delete(this.recentExits.values().next().value as string);
    const entry = this.opts.table.ensure(ev.id, this.now());
    if (this.sawOomThisRun(entry, ev.timeMs)) {
      this.record(entry, ev, true);
      return;
    }
    this.pendingDies.push({ ev, receivedMs: this.now() });
    this.opts.onWaiting?.();
  }

  /** Record the exits whose evidence arrived or whose wait is over. */
  tick(): void {
    const now = this.now();
    const stillDying: PendingDie[] = [];
    for (const d of this.pendingDies) {
      const entry = this.opts.table.ensure(d.ev.id, now);
      const oom = this.sawOomThisRun(entry, d.ev.timeMs);
      if (oom || this.waitedEnough(entry, d, now)) this.record(entry, d.ev, oom);
      else stillDying.push(d);
    }
    this.pendingDies = stillDying;
  }

  get pending(): boolean {
    return this.pendingDies.length > 0;
  }

  /**
   * Whether an exit without OOM evidence has waited long enough to be recorded as not OOM-killed: dieGraceMs,
   * in which the runtime's OOM event or the kernel-log record arrives. A runtime without OOM events (Podman)
   * and the kernel log down leave only the cgroup counter: the exit then also waits for the first read of its
   * cgroup after the exit, or for the cgroup to be gone (Podman removes it as the container stops, often
   * before any read: such a kill is seen by the kernel log alone), at most the match window.
   */
  private waitedEnough(entry: ContainerEntry, d: PendingDie, now: number): boolean {
    const waited = now - d.receivedMs;
    if (waited < (this.opts.dieGraceMs ?? 1500)) return false;
    if (!NO_OOM_EVENTS.has(d.ev.runtime) || (this.opts.kmsgUp?.() ?? true)) return true;
    return (
      !entry.present || (entry.lastReadMs ?? -Infinity) >= d.receivedMs || waited >= this.opts.matchWindowMs
    );
  }

  private sawOomThisRun(entry: ContainerEntry, dieMs: number): boolean {
    const start = entry.runStartMs ?? -Infinity;
    return (
      entry.lastOomMs !== undefined &&
      entry.lastOomMs >= start - 1000 &&
      entry.lastOomMs <= dieMs + this.opts.matchWindowMs
    );
  }

  private record(entry: ContainerEntry, ev: RuntimeExitEvent, oomKilled: boolean): void {
    entry.addExit({ exitCode: ev.exitCode, oomKilled });
    this.opts.sink?.exit(entry, ev.exitCode, oomKilled, ev.timeMs);
    this.opts.sink?.dirty(entry);
    this.opts.log.info(
      {
        container: entry.labels.id,
        name: entry.labels.name || undefined,
        runtime: ev.runtime,
        exitCode: ev.exitCode,
        oomKilled,
      },
      'container exited',
    );
  }
}
