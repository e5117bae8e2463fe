import type { Logger } from 'pino';
import type { ContainerEntry, ContainerTable } from '../state/containers';
import type { RuntimeExitEvent } from './observations';

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
  now?: () => number;
}

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
   * before it is recorded.
   */
  onExit(ev: RuntimeExitEvent): void {
    const entry = this.opts.table.ensure(ev.id, this.now());
    if (this.sawOomThisRun(entry, ev.timeMs)) {
      this.record(entry, ev, true);
      return;
    }
    this.pendingDies.push({ ev, receivedMs: this.now() });
  }

  /** Record the exits whose evidence arrived or whose wait is over. */
  tick(): void {
    const now = this.now();
    const stillDying: PendingDie[] = [];
    for (const d of this.pendingDies) {
      const entry = this.opts.table.ensure(d.ev.id, now);
      const oom = this.sawOomThisRun(entry, d.ev.timeMs);
      if (oom || now - d.receivedMs >= (this.opts.dieGraceMs ?? 1500)) this.record(entry, d.ev, oom);
      else stillDying.push(d);
    }
    this.pendingDies = stillDying;
  }

  get pending(): boolean {
    return this.pendingDies.length > 0;
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
