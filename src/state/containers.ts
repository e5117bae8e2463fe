import type { ContainerPath } from '../cgroup/container-path';
import type { CgroupReader } from '../cgroup/reader';
import type { MemorySample } from '../cgroup/sample';
import { type ContainerLabels, type ContainerMetadata, LABEL_NAMES, emptyLabels } from './labels';
import { MonotonicCounter } from './monotonic';
import type { RuntimeName } from './oom-kill';
import { flatString } from '../flat-string';

/**
 * The live container table: everything oomwatch knows about each container, keyed by full container id.
 * The poller fills samples, the Docker and Kubernetes sources fill metadata, the OOM ledger fills the
 * fused counters; the exposition reads it at scrape time without touching the disk.
 */

export interface ExitKey {
  exitCode: number;
  oomKilled: boolean;
}

export class ContainerEntry {
  readonly labels: ContainerLabels;
  info: Record<string, string> = {};
  path?: ContainerPath;
  reader?: CgroupReader;
  /** Last good reading; undefined before the first poll and once the cgroup is gone. */
  sample?: MemorySample;
  pid?: number;
  sandbox = false;

  // Counters kept monotonic across cgroup re-creation.
  readonly cgroupOomKills = new MonotonicCounter();
  readonly limitHits = new MonotonicCounter();
  readonly highEvents = new MonotonicCounter();
  /** v2 memory.events `oom_group_kill` (5.17+); never read where the kernel has no such key. */
  readonly oomGroupKills = new MonotonicCounter();
  readonly pressureSomeUs = new MonotonicCounter();
  readonly pressureFullUs = new MonotonicCounter();

  /** The last process of this container the OOM killer killed, when the kernel log named it. */
  lastVictim: { comm: string; pid: number; scope: string; timeMs: number } | undefined;
  /** Fused OOM kills (accounting/ledger.ts owns this). */
  oomKills = 0;
  /** Runtime OOM events: Docker's `oom`, containerd's TaskOOM (situations, not kills). */
  dockerOomEvents = 0;
  /** Undefined until the containerd source reports the container (its series is then exported, from 0). */
  containerdOomEvents: number | undefined;
  /** Exits by "exitCode|oomKilled". */
  readonly exits = new Map<string, number>();

  /** Time of the last successful read of the cgroup (what the raw counters above were read at). */
  lastReadMs: number | undefined;
  /** When the current run of the container started (Docker `start`, containerd TaskStart, or first seen). */
  runStartMs: number | undefined;
  /** Time of the last OOM kill or runtime OOM event attributed to the container. */
  lastOomMs: number | undefined;
  /** Time of the container's last runtime OOM event, by runtime (a burst of them is one OOM situation). */
  readonly lastRuntimeOomMs: Partial<Record<RuntimeName, number>> = {};

  firstSeenMs: number;
  lastSeenMs: number;
  /** When the container was last seen gone (cgroup removed, or died); undefined while present. */
  goneAtMs: number | undefined;

  private labelTextCache: string | undefined;
  private infoTextCache: string | undefined;

  constructor(
    readonly id: string,
    now: number,
  ) {
    this.labels = emptyLabels(id);
    this.firstSeenMs = now;
    this.lastSeenMs = now;
    this.goneAtMs = undefined;
    this.lastReadMs = undefined;
    this.runStartMs = undefined;
    this.lastOomMs = undefined;
    this.containerdOomEvents = undefined;
  }

  /** The label pairs of every series of this container, rendered once: `id="...",name="...",...`. */
  get labelText(): string {
    if (this.labelTextCache === undefined) {
      this.labelTextCache = flatString(
        LABEL_NAMES.map((k) => `${k}="${escapeLabelValue(this.labels[k])}"`).join(','),
      );
    }
    return this.labelTextCache;
  }

  /** Labels of the oomwatch_container_info series: the fixed set plus runtime facts and allowed labels. */
  get infoLabelText(): string {
    if (this.infoTextCache === undefined) {
      const extra: string[] = [
        `runtime="${this.path?.runtime ?? ''}"`,
        `pod_uid="${this.path?.podUid ?? ''}"`,
        `qos_class="${this.path?.qos === undefined ? '' : QOS_LABEL[this.path.qos]}"`,
      ];
      for (const [k, v] of Object.entries(this.info))
        extra.push(`${infoLabelName(k)}="${escapeLabelValue(v)}"`);
      this.infoTextCache = flatString(`${this.labelText},${extra.join(',')}`);
    }
    return this.infoTextCache;
  }

  setPath(path: ContainerPath): void {
    if (this.path?.cgroupPath === path.cgroupPath && this.path.podUid === path.podUid) return;
    this.path = path;
    this.infoTextCache = undefined;
  }

  /** Merge metadata from a runtime source; returns whether a label changed. */
  applyMetadata(meta: ContainerMetadata): boolean {
    const before = this.labelText;
    for (const k of LABEL_NAMES) {
      if (k === 'id') continue;
      const v = meta[k];
      if (v !== undefined) this.labels[k] = v;
    }
    if (meta.info !== undefined) this.info = meta.info;
    if (meta.pid !== undefined) this.pid = meta.pid;
    if (meta.sandbox !== undefined) this.sandbox = meta.sandbox;
    if (meta.runtime === 'containerd') this.containerdOomEvents ??= 0;
    this.labelTextCache = undefined;
    this.infoTextCache = undefined;
    return this.labelText !== before;
  }

  /** The counters kept from the cgroup's own files. */
  get cgroupCounters(): readonly MonotonicCounter[] {
    return [
      this.cgroupOomKills,
      this.limitHits,
      this.highEvents,
      this.oomGroupKills,
      this.pressureSomeUs,
      this.pressureFullUs,
    ];
  }

  /**
   * The cgroup is gone: the next one at this path (a restart under the same id) counts from 0. A counter never
   * read (a file or key this kernel does not have) stays unread, so its series stays absent instead of 0.
   */
  restartCgroupCounters(): void {
    for (const c of this.cgroupCounters) if (c.lastRaw !== undefined) c.reset();
  }

  addExit(key: ExitKey): void {
    const k = `${key.exitCode}|${key.oomKilled}`;
    this.exits.set(k, (this.exits.get(k) ?? 0) + 1);
  }

  get present(): boolean {
    return this.goneAtMs === undefined;
  }
}

/** QoS classes as Kubernetes writes them (pod.status.qosClass, kube-state-metrics' qos_class label). */
export const QOS_LABEL: Record<NonNullable<ContainerPath['qos']>, string> = {
  guaranteed: 'Guaranteed',
  burstable: 'Burstable',
  besteffort: 'BestEffort',
};

/** A container label such as com.example.team becomes the Prometheus label label_com_example_team. */
export function infoLabelName(containerLabel: string): string {
  return `label_${containerLabel.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** Escape a label value for the Prometheus text and OpenMetrics formats. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

export class ContainerTable {
  private readonly entries = new Map<string, ContainerEntry>();
  private readonly createdListeners: Array<(entry: ContainerEntry) => void> = [];

  /**
   * Call `listener` whenever a container is first seen, after the listeners subscribed before it (main.ts
   * subscribes the state store first, so persisted counters are restored before a runtime names the
   * container). It runs inside ensure(), before the caller sets the cgroup path. Returns the unsubscribe.
   */
  onCreated(listener: (entry: ContainerEntry) => void): () => void {
    this.createdListeners.push(listener);
    return () => {
      const i = this.createdListeners.indexOf(listener);
      if (i >= 0) this.createdListeners.splice(i, 1);
    };
  }

  get(id: string): ContainerEntry | undefined {
    return this.entries.get(id);
  }

  /** The entry for a container, created (counters at 0, or restored) when first seen. */
  ensure(id: string, now: number = Date.now()): ContainerEntry {
    let e = this.entries.get(id);
    if (!e) {
      e = new ContainerEntry(id, now);
      this.entries.set(id, e);
      for (const listener of this.createdListeners) listener(e);
    }
    return e;
  }

  /** Find a container by full id, id prefix or name. */
  lookup(idOrPrefix: string): ContainerEntry | undefined {
    const exact = this.entries.get(idOrPrefix);
    if (exact) return exact;
    for (const e of this.entries.values()) if (e.id.startsWith(idOrPrefix)) return e;
    return undefined;
  }

  values(): IterableIterator<ContainerEntry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Containers present, and gone but kept for the series grace period (oomwatch_containers{state}). */
  counts(): { present: number; gone: number } {
    let present = 0;
    let gone = 0;
    for (const e of this.entries.values())
      if (e.present) present++;
      else gone++;
    return { present, gone };
  }

  markGone(entry: ContainerEntry, now: number): void {
    if (entry.goneAtMs !== undefined) return;
    entry.goneAtMs = now;
    entry.sample = undefined;
    entry.reader?.close();
    entry.reader = undefined;
    entry.restartCgroupCounters();
  }

  markPresent(entry: ContainerEntry, now: number): void {
    entry.goneAtMs = undefined;
    entry.lastSeenMs = now;
  }

  /** Drop containers gone for longer than the grace period; returns the ids dropped. */
  sweep(now: number, graceMs: number): string[] {
    const dropped: string[] = [];
    // Runs at every poll: values(), not [id, entry] pairs, so that a quiet poll allocates nothing here.
    for (const e of this.entries.values()) {
      if (e.goneAtMs !== undefined && now - e.goneAtMs >= graceMs) {
        e.reader?.close();
        this.entries.delete(e.id);
        dropped.push(e.id);
      }
    }
    return dropped;
  }
}
