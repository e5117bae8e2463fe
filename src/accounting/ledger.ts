import type { Logger } from 'pino';
import type { MemorySample } from '../cgroup/sample';
import type { ContainerEntry, ContainerTable } from '../state/containers';
import { type CgroupHints, containerFromCgroupPath } from '../cgroup/container-path';
import { type KillSource, type OomKill, type RuntimeName, type Scope, addSource } from '../state/oom-kill';
import { ExitClassifier } from './exits';
import { HostKillCounts, type VmstatBaseline } from './host-kills';
import type { KernelOomKill, RuntimeExitEvent, RuntimeOomEvent, RuntimeStartEvent } from './observations';

/**
 * The OOM ledger: every OOM kill on the host counted once, attributed, explained.
 *
 * Three sources see kills, each partially:
 *   kmsg    one record per killed process, with the victim and (unless rate-limited) its cgroup. Exact and
 *           immediate, but needs /dev/kmsg, and the `oom-kill:` line naming the cgroup is rate-limited by the
 *           kernel (more than 10 OOMs in 5 s), leaving "anonymous" kills.
 *   cgroup  the cgroup's own oom_kill counter, read at each poll (and on v2 when memory.events changes).
 *           Exact in number, but lost when the cgroup is removed before the next read.
 *   runtime OOM events, Docker's `oom` and containerd's TaskOOM (Docker's `oom` is containerd's TaskOOM
 *           relayed): one per OOM situation of a container (a situation is not always a kill), arriving
 *           within milliseconds, even for `docker run --rm`. Each runtime is a source of its own (`docker`,
 *           `containerd`); below, "runtime oom" is either.
 *
 * The algorithm. A kill is a KillRecord with the set of sources that saw it. Each observation first tries to
 * *confirm* an existing record of the same container that its source has not seen yet (within the match
 * window, and for cgroup deltas only records of kills that happened since the previous read); only what is
 * left over becomes a new kill. So one kill seen by all three sources is one record, counted once:
 *   - kmsg kill with a cgroup  -> confirms a cgroup- or runtime-only record of that container, else a new kill.
 *   - kmsg kill, anonymous      -> attributed via the victim pid when it is a container's main process; else it
 *                                 confirms a pending runtime oom or a cgroup-only record of any container (the
 *                                 oldest in the window); else it waits for one, and when the window closes it
 *                                 is counted as a host-wide kill outside containers.
 *   - cgroup delta of n         -> confirms up to n unconfirmed records of the container (kmsg or runtime), then
 *                                 claims anonymous kmsg kills, then pending runtime ooms; the rest are new kills
 *                                 whose victim is unknown.
 *   - runtime oom               -> confirms a record of the container; else claims an anonymous kmsg kill;
 *                                 else, with the kernel log up, waits: if the container's cgroup is read after
 *                                 the event and shows no new kill, it was a situation without a kill (e.g.
 *                                 oom_kill_disable); if the cgroup is gone, it is counted as one kill. With the
 *                                 kernel log down it is counted at once (and later cgroup deltas confirm it).
 * Counting a kill increments the container's oomwatch_container_oom_kills_total, the host-wide
 * oomwatch_oom_kills_total{scope}, and writes an event to the log. Kills the kernel counted in /proc/vmstat that
 * no source explains after two polls are added to scope "other".
 */

export type { KillSource, Scope };

/**
 * A kill the ledger holds: the kill record itself (what is stored and shown) and what matching needs.
 */
export interface KillRecord extends OomKill {
  /**
   * When oomwatch learned of it. Windows close by this clock, not by the kill's own time: records replayed
   * from the kernel log or a runtime after a restart are old, yet must still meet the cgroup counters.
   */
  receivedMs: number;
  /**
   * Not a kill of its own: the kernel reported (and counted, in vmstat and memory.events) the same process
   * twice in one memory.oom.group kill. Kept only so that the counters' extra increment confirms it.
   */
  repeatOf?: string;
}

/** Where the ledger writes what it counts (the state store; a no-op in tests that do not persist). */
export interface LedgerSink {
  /** A kill counted, or updated with what another source added (same key). */
  oomKill(kill: OomKill): void;
  exit(entry: ContainerEntry, exitCode: number, oomKilled: boolean, timeMs: number): void;
  /** Counters changed (a container's, or the host's when undefined); persist soon. */
  dirty(entry: ContainerEntry | undefined): void;
}

/**
 * Told about each kill when it is counted, and again each time another source adds to it (the kernel-log
 * record often brings the victim a moment after a cgroup counter or runtime event counted the kill).
 * Listeners must be quick: they run on the path of every observation.
 */
export type KillListener = (
  record: Readonly<KillRecord>,
  entry: ContainerEntry | undefined,
  change: 'counted' | 'updated',
) => void;

export interface LedgerOptions {
  table: ContainerTable;
  log: Logger;
  sink?: LedgerSink;
  /** How long observations wait for each other (ms). Must exceed a poll interval. */
  matchWindowMs: number;
  /** Whether the kernel log currently delivers (decides how lone runtime OOM events are counted). */
  kmsgUp: () => boolean;
  /** What the runtime sources know about cgroup paths beyond the patterns (containerd's namespaces...). */
  hints?: CgroupHints;
  /** How long a die waits for its OOM evidence before the exit is recorded as not OOM-killed. */
  dieGraceMs?: number;
  /** The host-wide counts by scope (created here when not given). */
  host?: HostKillCounts;
  /**
   * Called when an observation starts waiting for another (the ledger becomes busy): main.ts then runs tick()
   * on a short timer until it is idle again, rather than waking four times a second for nothing.
   */
  onWaiting?: () => void;
  now?: () => number;
}

/** A runtime OOM event waiting for the kernel log or the cgroup counter to say whether it was a kill. */
interface PendingRuntimeOom {
  containerId: string;
  timeMs: number;
  receivedMs: number;
  /** Every runtime that reported this situation (Docker and containerd both do when both watch a container). */
  runtimes: RuntimeName[];
}

const MAX_RECENT = 64;
/** One runtime's OOM events of one container closer together than this are one OOM situation. */
const RUNTIME_OOM_BURST_MS = 2000;
/** How long a cgroup counter increase waits for its kernel-log record before it is counted on its own. */
const PENDING_CGROUP_MS = 2000;
/** A group kill's members follow its first victim within this. */
const GROUP_LEADER_MS = 2000;

export class OomLedger {
  /** Recent kill records per container, for confirmation by the other sources. */
  private readonly recent = new Map<string, KillRecord[]>();
  private anonymous: KillRecord[] = [];
  private pendingRuntime: PendingRuntimeOom[] = [];
  /** Cgroup counter increases waiting briefly for their kernel-log record (see onCgroupOomKills). */
  private pendingCgroup: Array<{ record: KillRecord; entryId: string }> = [];
  private readonly seenKmsg = new Set<string>();
  private seenKmsgOrder: string[] = [];
  private cgroupSeq = 0;
  readonly host: HostKillCounts;
  private readonly exits: ExitClassifier;

  private readonly listeners: KillListener[] = [];

  constructor(private readonly opts: LedgerOptions) {
    this.host = opts.host ?? new HostKillCounts(opts.log, () => this.now());
    this.exits = new ExitClassifier({
      table: opts.table,
      log: opts.log,
      ...(opts.sink ? { sink: opts.sink } : {}),
      matchWindowMs: opts.matchWindowMs,
      ...(opts.dieGraceMs !== undefined ? { dieGraceMs: opts.dieGraceMs } : {}),
      ...(opts.onWaiting ? { onWaiting: opts.onWaiting } : {}),
      kmsgUp: () => opts.kmsgUp(),
      now: () => this.now(),
    });
  }

  /** Kills counted per scope on the whole host (oomwatch_oom_kills_total). */
  get scopes(): Readonly<Record<Scope, number>> {
    return this.host.scopes;
  }

  /** Subscribe to counted and updated kills (the Kubernetes Event writer, `oomwatch events --follow`...). */
  onKill(listener: KillListener): void {
    this.listeners.push(listener);
  }

  private notify(record: KillRecord, entry: ContainerEntry | undefined, change: 'counted' | 'updated'): void {
    for (const l of this.listeners) {
      try {
        l(record, entry, change);
      } catch (err) {
        this.opts.log.warn({ err }, 'a kill listener failed');
      }
    }
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  // ---------------------------------------------------------------- kernel log

  onKernelKill(k: KernelOomKill): void {
    const key = `kmsg:${k.bootId}:${k.seq}`;
    if (this.seenKmsg.has(key)) return;
    this.rememberKmsg(key);

    const record: KillRecord = {
      key,
      timeMs: k.timeMs,
      timeExact: true,
      scope: k.trigger === 'system' ? 'system' : 'other',
      trigger: k.trigger,
      victim: k.victim,
      groupKill: k.groupKill === true,
      sources: ['kmsg'],
      receivedMs: this.now(),
    };
    const memcg = cgroupOfKill(k);
    if (memcg !== undefined) record.cgroup = memcg;

    if (k.repeatOfSeq !== undefined) {
      this.absorbRepeat(record, `kmsg:${k.bootId}:${k.repeatOfSeq}`);
      return;
    }

    let entry: ContainerEntry | undefined;
    if (memcg !== undefined) {
      const cp = containerFromCgroupPath(memcg, this.opts.hints);
      if (cp === null) {
        this.commit(record, undefined); // a cgroup that is not a container: scope other (or system)
        return;
      }
      entry = this.opts.table.ensure(cp.id, this.now());
      if (!entry.path) entry.setPath(cp);
    } else {
      entry = this.containerOfPid(k.victim.pid);
    }

    if (entry === undefined) {
      // Anonymous: confirm a pending runtime oom or a cgroup-only record of any container, else wait.
      const pending = this.takePendingRuntime(
        (p) => Math.abs(p.timeMs - k.timeMs) <= this.opts.matchWindowMs,
      );
      if (pending) {
        const e = this.opts.table.ensure(pending.containerId, this.now());
        for (const rt of pending.runtimes) addSource(record, rt);
        this.commit(record, e);
        return;
      }
      const waiting = this.takePendingCgroup(
        (p) => Math.abs(p.record.timeMs - k.timeMs) <= this.opts.matchWindowMs,
      );
      const waitingEntry = waiting === undefined ? undefined : this.opts.table.get(waiting.entryId);
      if (waitingEntry) {
        addSource(record, 'cgroup');
        this.commit(record, waitingEntry);
        return;
      }
      const unconfirmed = this.findAcrossContainers(
        (r) =>
          r.repeatOf === undefined &&
          !r.sources.includes('kmsg') &&
          r.sources.includes('cgroup') &&
          Math.abs(r.timeMs - k.timeMs) <= this.opts.matchWindowMs,
      );
      if (unconfirmed) {
        this.enrich(unconfirmed.record, record, unconfirmed.entry);
        return;
      }
      this.anonymous.push(record);
      this.opts.onWaiting?.();
      return;
    }

    if (record.groupKill) this.markGroupLeader(entry, record);
    const existing = this.findRecord(
      entry.id,
      (r) =>
        r.repeatOf === undefined &&
        !r.sources.includes('kmsg') &&
        Math.abs(r.timeMs - k.timeMs) <= this.opts.matchWindowMs,
    );
    if (existing) {
      this.enrich(existing, record, entry);
      return;
    }
    const pending = this.takePendingRuntime(
      (p) => p.containerId === entry.id && Math.abs(p.timeMs - k.timeMs) <= this.opts.matchWindowMs,
    );
    for (const rt of pending?.runtimes ?? []) addSource(record, rt);
    if (this.takePendingCgroup((p) => p.entryId === entry.id)) addSource(record, 'cgroup');
    this.commit(record, entry);
  }

  /**
   * The kernel prints the first victim of a memory.oom.group kill before "Tasks in ... are going to be
   * killed": it was chosen for the same group kill, so its record says so too.
   */
  private markGroupLeader(entry: ContainerEntry, member: KillRecord): void {
    const leader = this.findRecord(
      entry.id,
      (r) =>
        r.repeatOf === undefined &&
        !r.groupKill &&
        r.sources.includes('kmsg') &&
        member.timeMs - r.timeMs >= 0 &&
        member.timeMs - r.timeMs <= GROUP_LEADER_MS,
    );
    if (!leader) return;
    leader.groupKill = true;
    this.updated(leader, entry);
  }

  // ---------------------------------------------------------------- cgroup counters

  onCgroupOomKills(
    entry: ContainerEntry,
    delta: number,
    sample: MemorySample,
    previousReadMs: number | undefined,
  ): void {
    const since = previousReadMs === undefined ? -Infinity : previousReadMs - 1000;
    const until = sample.readAtMs + 1000;
    const inWindow = (t: number): boolean => t >= since && t <= until;
    for (let i = 0; i < delta; i++) {
      const existing = this.findRecord(entry.id, (r) => !r.sources.includes('cgroup') && inWindow(r.timeMs));
      if (existing) {
        addSource(existing, 'cgroup');
        if (existing.repeatOf === undefined) this.updated(existing, entry);
        continue;
      }
      const anonIndex = this.anonymous.findIndex((r) => inWindow(r.timeMs));
      if (anonIndex >= 0) {
        const [anon] = this.anonymous.splice(anonIndex, 1) as [KillRecord];
        addSource(anon, 'cgroup');
        this.commit(anon, entry);
        continue;
      }
      const record: KillRecord = {
        key: `cgroup:${entry.id}:${sample.readAtMs}:${this.cgroupSeq++}`,
        timeMs: sample.readAtMs,
        timeExact: false,
        scope: 'container',
        groupKill: false,
        sources: ['cgroup'],
        receivedMs: this.now(),
      };
      if (entry.path) record.cgroup = entry.path.cgroupPath;
      if (this.opts.kmsgUp() && previousReadMs !== undefined) {
        // The kernel log is up but has not told of this kill yet. It usually does within milliseconds (the
        // counter moves before the record is printed), and a memory.oom.group kill can count one process
        // twice: wait a moment for the record before counting a kill nobody named.
        this.pendingCgroup.push({ record, entryId: entry.id });
        this.opts.onWaiting?.();
        continue;
      }
      this.commitCgroupOnly(record, entry, inWindow);
    }
  }

  private commitCgroupOnly(
    record: KillRecord,
    entry: ContainerEntry,
    inWindow: (t: number) => boolean,
  ): void {
    const pending = this.takePendingRuntime((p) => p.containerId === entry.id && inWindow(p.timeMs));
    if (pending) {
      for (const rt of pending.runtimes) addSource(record, rt);
      record.timeMs = pending.timeMs;
      record.timeExact = true;
    }
    this.commit(record, entry);
  }

  private takePendingCgroup(
    pred: (p: { record: KillRecord; entryId: string }) => boolean,
  ): { record: KillRecord; entryId: string } | undefined {
    const i = this.pendingCgroup.findIndex(pred);
    return i < 0 ? undefined : this.pendingCgroup.splice(i, 1)[0];
  }

  // ---------------------------------------------------------------- runtimes (Docker, containerd)

  /** A runtime's OOM event (Docker `oom`, containerd TaskOOM). */
  onRuntimeOom(ev: RuntimeOomEvent): void {
    const rt = ev.runtime;
    const entry = this.opts.table.ensure(ev.id, this.now());
    if (rt === 'docker') entry.dockerOomEvents++;
    else if (rt === 'containerd') entry.containerdOomEvents = (entry.containerdOomEvents ?? 0) + 1;
    const previous = entry.lastRuntimeOomMs[rt];
    entry.lastRuntimeOomMs[rt] = ev.timeMs;
    entry.lastOomMs = Math.max(entry.lastOomMs ?? 0, ev.timeMs);
    this.opts.sink?.dirty(entry);
    // A runtime raises its event once per OOM notification of the cgroup, and one kill on cgroup v1 raises
    // several (Docker relayed six for one kill here). Those that follow within RUNTIME_OOM_BURST_MS of the
    // runtime's previous one are the same situation: counted as events, never as more kills.
    const repeat =
      previous !== undefined && ev.timeMs >= previous && ev.timeMs - previous <= RUNTIME_OOM_BURST_MS;

    const existing = this.findRecord(
      entry.id,
      (r) =>
        r.repeatOf === undefined &&
        !r.sources.includes(rt) &&
        Math.abs(r.timeMs - ev.timeMs) <= this.opts.matchWindowMs,
    );
    if (existing) {
      addSource(existing, rt);
      this.updated(existing, entry);
      return;
    }
    if (repeat) return;
    // Another runtime's event of the same situation is waiting already (both watch this container).
    const waiting = this.pendingRuntime.find(
      (p) =>
        p.containerId === entry.id &&
        !p.runtimes.includes(rt) &&
        Math.abs(p.timeMs - ev.timeMs) <= this.opts.matchWindowMs,
    );
    if (waiting) {
      waiting.runtimes.push(rt);
      return;
    }
    // A kill of this container already counted within the window, and already seen by the runtime: this event
    // is a late echo of the same situation (under load the repeated events spread beyond the burst).
    if (
      this.findRecord(
        entry.id,
        (r) => r.repeatOf === undefined && Math.abs(r.timeMs - ev.timeMs) <= this.opts.matchWindowMs,
      )
    )
      return;
    const anonIndex = this.anonymous.findIndex(
      (r) => Math.abs(r.timeMs - ev.timeMs) <= this.opts.matchWindowMs,
    );
    if (anonIndex >= 0) {
      const [anon] = this.anonymous.splice(anonIndex, 1) as [KillRecord];
      addSource(anon, rt);
      this.commit(anon, entry);
      return;
    }
    if (this.opts.kmsgUp()) {
      this.pendingRuntime.push({
        containerId: entry.id,
        timeMs: ev.timeMs,
        receivedMs: this.now(),
        runtimes: [rt],
      });
      this.opts.onWaiting?.();
      return;
    }
    this.commitRuntimeOnly(entry, [rt], ev.timeMs);
  }

  /** A new run of a container (Docker `start`, containerd TaskStart). */
  onRuntimeStart(ev: RuntimeStartEvent): void {
    this.exits.onStart(ev.id, ev.timeMs);
  }

  /** An exit: recorded once it is known whether an OOM kill or a runtime OOM event came during that run. */
  onRuntimeExit(ev: RuntimeExitEvent): void {
    this.exits.onExit(ev);
  }

  // ---------------------------------------------------------------- time

  /** Close the windows that have run out. Called after each poll and on a short timer while work is pending. */
  tick(): void {
    this.closeKillWindows(false);
    this.exits.tick();

    const now = this.now();
    const window = this.opts.matchWindowMs;
    for (const [id, records] of this.recent) {
      const kept = records.filter((r) => now - r.receivedMs <= window * 4);
      if (kept.length === 0) this.recent.delete(id);
      else if (kept.length !== records.length) this.recent.set(id, kept);
    }
  }

  /**
   * Close every open kill window at once, as if it had run out: what waits for another source is counted with
   * what it has now. For a reader that has nothing more to wait for, such as `oomwatch events --kernel-log`
   * once it has drained the kernel's ring (only the kernel log feeds it). Exits are not touched.
   */
  flush(): void {
    this.closeKillWindows(true);
  }

  /** Count what waited too long (or, with `all`, everything that waits) for another source. */
  private closeKillWindows(all: boolean): void {
    const now = this.now();
    const window = this.opts.matchWindowMs;

    const stillAnonymous: KillRecord[] = [];
    for (const r of this.anonymous) {
      if (all || now - r.receivedMs > window)
        this.commit(r, undefined); // nobody claimed it: a kill outside containers
      else stillAnonymous.push(r);
    }
    this.anonymous = stillAnonymous;

    const stillPending: PendingRuntimeOom[] = [];
    for (const p of this.pendingRuntime) {
      if (!all && now - p.receivedMs <= window) {
        stillPending.push(p);
        continue;
      }
      const entry = this.opts.table.get(p.containerId);
      if (!entry) continue;
      // The cgroup was read after the event and showed no kill: an OOM situation without a kill.
      const cgroupSpoke =
        entry.present &&
        entry.lastReadMs !== undefined &&
        entry.lastReadMs > p.timeMs &&
        entry.cgroupOomKills.lastRaw !== undefined;
      if (!cgroupSpoke) this.commitRuntimeOnly(entry, p.runtimes, p.timeMs);
    }
    this.pendingRuntime = stillPending;

    const stillWaiting: Array<{ record: KillRecord; entryId: string }> = [];
    for (const p of this.pendingCgroup) {
      const entry = this.opts.table.get(p.entryId);
      if (!entry) continue;
      if (!all && now - p.record.receivedMs < PENDING_CGROUP_MS) stillWaiting.push(p);
      else this.commitCgroupOnly(p.record, entry, (t) => Math.abs(t - p.record.timeMs) <= window);
    }
    this.pendingCgroup = stillWaiting;
  }

  /** Whether windows are open (main.ts runs tick() on a short timer while they are). */
  get busy(): boolean {
    return (
      this.anonymous.length > 0 ||
      this.pendingRuntime.length > 0 ||
      this.exits.pending ||
      this.pendingCgroup.length > 0
    );
  }

  forget(id: string): void {
    this.recent.delete(id);
  }

  // ---------------------------------------------------------------- host counter

  /**
   * Reconcile with the kernel's host-wide count (/proc/vmstat oom_kill): kills that no source explained for
   * two consecutive polls are counted in scope `other`.
   */
  reconcileVmstat(hostTotal: number): void {
    const waiting = this.anonymous.length + this.pendingRuntime.length + this.pendingCgroup.length;
    if (this.host.reconcile(hostTotal, waiting) > 0) this.opts.sink?.dirty(undefined);
  }

  /** Restore the vmstat baseline and scope counters from the state store. */
  restore(scopes: Partial<Record<Scope, number>>, vmstat?: VmstatBaseline): void {
    this.host.restore(scopes, vmstat);
  }

  /** The baseline to persist: the host count that every kill counted so far is part of, and its time. */
  get vmstatBaseline(): VmstatBaseline | undefined {
    return this.host.baseline;
  }

  // ---------------------------------------------------------------- internals

  private commit(record: KillRecord, entry: ContainerEntry | undefined): void {
    if (entry) {
      record.containerId = entry.id;
      if (record.scope !== 'system') record.scope = 'container';
      if (record.cgroup === undefined && entry.path) record.cgroup = entry.path.cgroupPath;
      if (entry.sample) {
        if (entry.sample.usage !== undefined) record.usageBytes = entry.sample.usage;
        if (entry.sample.limit !== undefined && Number.isFinite(entry.sample.limit))
          record.limitBytes = entry.sample.limit;
      }
      entry.oomKills++;
      entry.lastOomMs = Math.max(entry.lastOomMs ?? 0, record.timeMs);
      noteVictim(entry, record);
      this.addRecent(entry.id, record);
    }
    this.host.counted(record.scope, record.timeMs);
    this.write(record, entry);
    this.opts.sink?.dirty(entry);
    this.notify(record, entry, 'counted');
    this.opts.log.info(
      {
        container: entry?.labels.id,
        name: entry?.labels.name || undefined,
        scope: record.scope,
        victim: record.victim ? `${record.victim.comm}(${record.victim.pid})` : undefined,
        anonRssBytes: record.victim?.anonRssBytes,
        sources: [...record.sources],
      },
      'OOM kill',
    );
  }

  private commitRuntimeOnly(entry: ContainerEntry, runtimes: readonly RuntimeName[], timeMs: number): void {
    const sources: KillSource[] = [...runtimes].sort();
    const record: KillRecord = {
      key: `${sources[0] as string}:${entry.id}:${timeMs}`,
      timeMs,
      timeExact: true,
      scope: 'container',
      groupKill: false,
      sources,
      receivedMs: this.now(),
    };
    this.commit(record, entry);
  }

  /** A later kmsg record for a kill first counted from a cgroup delta or a runtime event: add what it tells. */
  private enrich(existing: KillRecord, kmsg: KillRecord, entry: ContainerEntry | undefined): void {
    addSource(existing, 'kmsg');
    if (kmsg.victim) existing.victim = kmsg.victim;
    if (kmsg.trigger) existing.trigger = kmsg.trigger;
    if (kmsg.groupKill) existing.groupKill = true;
    existing.timeMs = kmsg.timeMs;
    existing.timeExact = true;
    if (kmsg.trigger === 'system' && existing.scope !== 'system') {
      // A system OOM counted first as a container kill: move it between the host scopes.
      this.host.move(existing.scope, 'system');
      existing.scope = 'system';
    }
    if (entry) noteVictim(entry, existing);
    this.updated(existing, entry);
  }

  private updated(record: KillRecord, entry: ContainerEntry | undefined): void {
    this.write(record, entry);
    this.notify(record, entry, 'updated');
  }

  /**
   * memory.oom.group kills every task of the group, the first victim included when it has not released its
   * memory yet: the kernel then prints and counts that process twice. One process, one kill; the record stays,
   * uncounted, for the cgroup counter's second increment to confirm.
   */
  private absorbRepeat(record: KillRecord, originalKey: string): void {
    let containerId: string | undefined;
    for (const [id, records] of this.recent) if (records.some((r) => r.key === originalKey)) containerId = id;
    if (containerId === undefined && record.cgroup !== undefined)
      containerId = containerFromCgroupPath(record.cgroup, this.opts.hints)?.id;
    record.repeatOf = originalKey;
    this.host.countedByKernel(record.timeMs); // /proc/vmstat counted it again too
    if (containerId === undefined) return;
    // The counter's extra increment may have been read already and be waiting for a record: this is it.
    if (this.takePendingCgroup((p) => p.entryId === containerId)) return;
    this.addRecent(containerId, record);
  }

  private addRecent(id: string, record: KillRecord): void {
    let list = this.recent.get(id);
    if (!list) {
      list = [];
      this.recent.set(id, list);
    }
    list.push(record);
    if (list.length > MAX_RECENT) list.shift();
  }

  private findRecord(id: string, pred: (r: KillRecord) => boolean): KillRecord | undefined {
    return this.recent.get(id)?.find(pred);
  }

  private findAcrossContainers(
    pred: (r: KillRecord) => boolean,
  ): { record: KillRecord; entry: ContainerEntry } | undefined {
    let best: { record: KillRecord; entry: ContainerEntry } | undefined;
    for (const [id, records] of this.recent) {
      const r = records.find(pred);
      const entry = this.opts.table.get(id);
      if (r && entry && (!best || r.timeMs < best.record.timeMs)) best = { record: r, entry };
    }
    return best;
  }

  private takePendingRuntime(pred: (p: PendingRuntimeOom) => boolean): PendingRuntimeOom | undefined {
    const i = this.pendingRuntime.findIndex(pred);
    if (i < 0) return undefined;
    return this.pendingRuntime.splice(i, 1)[0];
  }

  private containerOfPid(pid: number): ContainerEntry | undefined {
    for (const e of this.opts.table.values()) if (e.pid === pid && e.pid > 0) return e;
    return undefined;
  }

  /** Hand a kill to the sink with the container's labels as they are now. */
  private write(record: KillRecord, entry: ContainerEntry | undefined): void {
    if (entry) record.labels = { ...entry.labels };
    this.opts.sink?.oomKill(record);
  }

  private rememberKmsg(key: string): void {
    this.seenKmsg.add(key);
    this.seenKmsgOrder.push(key);
    if (this.seenKmsgOrder.length > 4096) {
      const old = this.seenKmsgOrder.splice(0, 2048);
      for (const k of old) this.seenKmsg.delete(k);
    }
  }
}

/**
 * The cgroup a kernel-log kill belongs to, as far as its records tell:
 * - the victim's own memory cgroup (`task_memcg=`, `Task in`) when printed;
 * - else the memory.oom.group it was killed with: members are printed without their own cgroup, and the
 *   group is on the path from the victim's memcg up, so the victim is in it or below it;
 * - else the cgroup whose limit was hit (`oom_memcg=`, `as a result of limit of`), when it is a container's.
 *   Up to 5.0 the kernel may kill a child of the process it chose; the child's cgroup is not printed, but
 *   oom_badness() only scores tasks inside the OOMing memcg, so the child is in it. A limit above the
 *   containers (a Kubernetes pod's) does not say which container: such a kill stays anonymous, for the cgroup
 *   counters or Docker events to attribute (before 4.13 there is no oom_kill counter to do it).
 */
function cgroupOfKill(k: KernelOomKill): string | undefined {
  const own = k.taskMemcg ?? k.groupMemcg;
  if (own !== undefined) return own;
  if (k.oomMemcg !== undefined && containerFromCgroupPath(k.oomMemcg) !== null) return k.oomMemcg;
  return undefined;
}

/** Remember the container's latest named victim (oomwatch_container_last_oom_kill_info). */
function noteVictim(entry: ContainerEntry, record: KillRecord): void {
  const v = record.victim;
  if (v === undefined || (entry.lastVictim !== undefined && entry.lastVictim.timeMs > record.timeMs)) return;
  entry.lastVictim = { comm: v.comm, pid: v.pid, scope: record.scope, timeMs: record.timeMs };
}
