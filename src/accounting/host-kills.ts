import type { Logger } from 'pino';
import type { VmstatBaseline } from '../state/cursors';
import type { Scope } from '../state/oom-kill';

export type { VmstatBaseline };

/**
 * Every OOM kill on the host by scope (oomwatch_oom_kills_total{scope}), reconciled with the kernel's own
 * host-wide count, /proc/vmstat `oom_kill`: kills the kernel counted that no source explained for two
 * consecutive polls are added to scope `other`, so the host total never falls short of the kernel's.
 */
export class HostKillCounts {
  /** Kills counted per scope; one object for the life of the process (the state store reads it in place). */
  readonly scopes: Record<Scope, number> = { container: 0, system: 0, other: 0 };
  /** The kernel's count at the baseline, kills counted since, what the last reconciliation lacked. */
  private base: number | undefined;
  /** When the baseline was taken: kills from before it are already inside it. */
  private baseTimeMs = 0;
  private countedSinceBase = 0;
  private lastExcess = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** A kill counted in `scope`, which happened at `timeMs`. */
  counted(scope: Scope, timeMs: number): void {
    this.scopes[scope]++;
    this.countedByKernel(timeMs);
  }

  /**
   * A kill the kernel counted (in vmstat) that is not a kill of its own: a memory.oom.group kill's repeated
   * record of its first victim.
   */
  countedByKernel(timeMs: number): void {
    if (timeMs >= this.baseTimeMs) this.countedSinceBase++;
  }

  /** A kill counted in one scope turned out to belong to another (a system OOM first seen as a container's). */
  move(from: Scope, to: Scope): void {
    this.scopes[from]--;
    this.scopes[to]++;
  }

  /**
   * Compare with the kernel's count. `waiting` is the number of kills the ledger holds but has not counted
   * yet (they are in the kernel's count already). Returns the kills added to scope `other`.
   */
  reconcile(hostTotal: number, waiting: number): number {
    if (this.base === undefined || hostTotal < this.base) {
      this.base = hostTotal;
      this.baseTimeMs = this.now();
      this.countedSinceBase = 0;
      this.lastExcess = 0;
      return 0;
    }
    const excess = hostTotal - this.base - this.countedSinceBase - waiting;
    if (excess > 0 && this.lastExcess > 0) {
      const add = Math.min(excess, this.lastExcess);
      this.scopes.other += add;
      this.countedSinceBase += add;
      this.log.warn(
        { kills: add },
        'OOM kills counted by the kernel (/proc/vmstat oom_kill) that no source attributed: counted in scope "other"',
      );
      this.lastExcess = excess - add;
      return add;
    }
    this.lastExcess = Math.max(0, excess);
    return 0;
  }

  /** Restore the scope counters and the vmstat baseline from the state store. */
  restore(scopes: Partial<Record<Scope, number>>, vmstat?: VmstatBaseline): void {
    for (const s of ['container', 'system', 'other'] as const) this.scopes[s] = scopes[s] ?? 0;
    this.base = vmstat?.base;
    this.baseTimeMs = vmstat?.timeMs ?? 0;
  }

  /** The baseline to persist. */
  get baseline(): VmstatBaseline | undefined {
    return this.base === undefined
      ? undefined
      : { base: this.base + this.countedSinceBase, timeMs: this.now() };
  }
}
