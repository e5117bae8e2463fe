import type { StateStore } from './store';

/** Kernel-log records up to `seq` of boot `bootId` were delivered. */
export interface KmsgCursor {
  bootId: string;
  seq: number;
}

/** The host's /proc/vmstat oom_kill that every kill counted so far is part of, and when it was taken. */
export interface VmstatBaseline {
  base: number;
  timeMs: number;
}

/**
 * Where each stream resumes after a restart, kept in the state database's meta table: the kernel-log cursor
 * (boot id and sequence number), the Docker and Podman event cursors (the `timeNano` of the last event), the
 * containerd exit cursor (containerd replays nothing: exits up to it were delivered, later ones a list finds were
 * not) and the /proc/vmstat baseline (the host's kill count that every counted kill is part of, valid within one
 * boot).
 * The Kubernetes pod source keeps none: it lists the node's pods at every start, and a resourceVersion from
 * before a restart would mostly be expired (410 Gone) anyway.
 *
 * Cursors are saved after the counters they cover (the poll flushes counters first): a crash in between
 * replays a little, and the ledger's keys make a replay count nothing twice.
 */
export interface SavedCursors {
  kmsg?: KmsgCursor | undefined;
  docker?: bigint | undefined;
  /** containerd: the exit time (ns) up to which exits were delivered (see ContainerdSource.cursor). */
  containerd?: bigint | undefined;
  /** The Podman source's own cursor: its events come from another engine, with times of their own. */
  podman?: bigint | undefined;
  vmstat?: VmstatBaseline | undefined;
}

/** How long cursors that did not move go unwritten (only the vmstat baseline's time moves on a quiet host). */
const REWRITE_AFTER_MS = 60_000;

export class Cursors {
  private lastWritten: Record<string, string> = {};
  private lastWriteMs = -Infinity;

  constructor(
    private readonly store: StateStore,
    /** This boot's id; undefined when /proc does not tell (then no boot-bound cursor is trusted). */
    private readonly bootId: string | undefined,
  ) {}

  /** The kernel-log cursor saved by an earlier run (of any boot: the source compares the boot id). */
  kmsg(): KmsgCursor | undefined {
    const bootId = this.store.getMeta('kmsg_boot_id');
    const seq = Number(this.store.getMeta('kmsg_seq'));
    return bootId !== undefined && Number.isInteger(seq) ? { bootId, seq } : undefined;
  }

  /**
   * No kernel-log cursor was ever saved: oomwatch's first start on this host (or its state was lost). Kills
   * still in the kernel's ring from before it started are then not counted: present containers count theirs
   * from their cgroup counters, and a first deployment raises no alert for every kill since boot.
   */
  firstStart(): boolean {
    return this.store.getMeta('kmsg_boot_id') === undefined;
  }

  docker(): bigint | undefined {
    return this.nanos('docker_since_nano');
  }

  podman(): bigint | undefined {
    return this.nanos('podman_since_nano');
  }

  private nanos(key: string): bigint | undefined {
    const c = this.store.getMeta(key);
    return c !== undefined && /^\d+$/.test(c) ? BigInt(c) : undefined;
  }

  containerd(): bigint | undefined {
    const c = this.store.getMeta('containerd_exit_nano');
    return c !== undefined && /^\d+$/.test(c) ? BigInt(c) : undefined;
  }

  /** The vmstat baseline, when it was saved during this boot. */
  vmstat(): VmstatBaseline | undefined {
    if (this.bootId === undefined || this.store.getMeta('vmstat_boot_id') !== this.bootId) return undefined;
    const base = Number(this.store.getMeta('vmstat_base'));
    const timeMs = Number(this.store.getMeta('vmstat_base_time_ms'));
    return Number.isFinite(base) && Number.isFinite(timeMs) ? { base, timeMs } : undefined;
  }

  save(c: SavedCursors): void {
    const meta: Record<string, string> = {};
    if (c.kmsg) {
      meta['kmsg_boot_id'] = c.kmsg.bootId;
      meta['kmsg_seq'] = String(c.kmsg.seq);
    }
    if (c.docker !== undefined) meta['docker_since_nano'] = c.docker.toString();
    if (c.containerd !== undefined) meta['containerd_exit_nano'] = c.containerd.toString();
    if (c.podman !== undefined) meta['podman_since_nano'] = c.podman.toString();
    if (c.vmstat !== undefined && this.bootId !== undefined) {
      meta['vmstat_boot_id'] = this.bootId;
      meta['vmstat_base'] = String(c.vmstat.base);
      meta['vmstat_base_time_ms'] = String(c.vmstat.timeMs);
    }
    if (Object.keys(meta).length === 0) return;
    // A quiet host's cursors do not move between polls: no transaction for nothing, but the baseline's time
    // (which moves at every poll) is still written once a minute.
    const now = Date.now();
    const moved = Object.entries(meta).some(
      ([k, v]) => k !== 'vmstat_base_time_ms' && this.lastWritten[k] !== v,
    );
    if (!moved && now - this.lastWriteMs < REWRITE_AFTER_MS) return;
    if (this.store.setMeta(meta)) {
      this.lastWritten = meta;
      this.lastWriteMs = now;
    }
  }
}
