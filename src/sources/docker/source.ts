import type { Logger } from 'pino';
import type { DockerDieEvent, DockerOomEvent } from '../../accounting/observations';
import type { ContainerMetadata } from '../../state/labels';
import type { Source } from '../../source';
import { type ReadOnlyDockerApi, dockerodeApi } from './api';
import {
  type ContainerEvent,
  type DieEvent,
  labelsFromAttributes,
  parseEventLine,
  sinceParameter,
} from './events';
import {
  LabelAllowList,
  metadataFromEvent,
  metadataFromInspect,
  metadataFromList,
  narrowInspect,
  narrowListed,
} from './metadata';
import {
  type Engine,
  type EngineKind,
  engineFromVersion,
  infraIdsFromLibpodList,
  isInfraFromLibpodInspect,
} from './engine';
import { describeDockerProblem } from './problem';
import { WorkQueue } from '../work-queue';

/** A container start or destroy, as Docker reported it. */
export interface DockerLifecycleEvent {
  id: string;
  timeMs: number;
  timeNano: bigint;
  /** The engine that reported it: Docker, or Podman through its Docker-compatible API. */
  engine: EngineKind;
}

/** Docker's `oom` event (Podman never sends one). */
export interface DockerOom extends DockerOomEvent {
  engine: EngineKind;
}

/** A `die` whose exit code is known: from the event itself, or from inspect when a label hid it. */
export interface DockerDieWithExitCode extends DockerDieEvent {
  exitCodeFrom: 'event' | 'inspect';
  engine: EngineKind;
}

/**
 * A `die` whose exit code could not be learnt: a label named `exitCode` hid Docker's value (or the event
 * was in the pre-1.22 format) and the container was removed or restarted before it could be inspected.
 * The exit happened; its code is unknown.
 */
export interface DockerDieWithoutExitCode extends Omit<DockerDieEvent, 'exitCode'> {
  exitCode: undefined;
  exitCodeFrom: 'unknown';
  engine: EngineKind;
  /** Why, for the log. */
  why: string;
}

export type DockerDie = DockerDieWithExitCode | DockerDieWithoutExitCode;

/**
 * What the Docker source tells the rest of oomwatch (the OOM ledger implements it). Calls come straight
 * from the event stream, in stream order, so each must return quickly: Docker drops events for a
 * subscriber that falls 100 ms behind.
 *
 * Ordering: a `die` is normally delivered in stream order, after the container's `oom` events. A die
 * whose exit code had to be looked up (see DockerDieWithoutExitCode) is delivered when the lookup ends,
 * which can be after the container's `destroy`.
 */
export interface DockerListener {
  /** Docker's `oom`: an OOM situation in the container (one kill can raise several). Podman sends none. */
  onOom?(event: DockerOom): void;
  onDie?(event: DockerDie): void;
  onStart?(event: DockerLifecycleEvent): void;
  onDestroy?(event: DockerLifecycleEvent): void;
  /** `docker update`: the container's limits may have changed (Podman's compat stream sends none). */
  onUpdate?(event: DockerLifecycleEvent): void;
  /** Metadata learnt from the container list, inspect, or a start/rename event; fields not known are undefined. */
  onMetadata?(id: string, meta: ContainerMetadata): void;
  /**
   * Every container Docker has (running or not), after each (re)connection. Containers destroyed while
   * the stream was down, beyond what `since` replays, are missing from it.
   */
  onInventory?(ids: ReadonlySet<string>, atMs: number): void;
}

export interface DockerSourceOptions {
  /** Unix socket of the Docker Engine API (`--docker-socket`), or of Podman's (`--podman-socket`). */
  socketPath: string;
  /**
   * The source's name (`oomwatch_source_up{source}`) and the flag it comes from: `docker` for --docker-socket
   * (default), `podman` for --podman-socket. Either way the engine on the socket is told from /version.
   */
  name?: 'docker' | 'podman';
  listener: DockerListener;
  log: Logger;
  /** `--label-allow`: container labels copied into ContainerMetadata.info. */
  labelAllow?: readonly string[];
  /**
   * The cursor persisted by the state store: the `timeNano` of the last event delivered before the
   * previous shutdown. Events at or before it are not delivered again; later ones still in Docker's
   * buffer are replayed.
   */
  cursor?: bigint;
  /** First reconnect delay, doubled on each failure up to backoffMaxMs. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Deadline of ping, version, list and inspect calls. */
  requestTimeoutMs?: number;
  /** Inspect calls in flight at once. */
  inspectConcurrency?: number;
  /**
   * How long a started container must have run before it is inspected for its pid (default 1 s);
   * containers that exit sooner are never inspected.
   */
  inspectDelayMs?: number;
  /** The API to use instead of dockerode over socketPath (the benchmark's replay server still goes through dockerode). */
  api?: ReadOnlyDockerApi;
}

/** Counters for the benchmark and for debugging; all monotonic. */
export interface DockerSourceStats {
  /** Events handed to the listener, by action (create counts although only its labels are used). */
  delivered: Record<ContainerEvent['action'], number>;
  /** Well-formed lines oomwatch does not act on (other types, other container actions). */
  ignored: number;
  /** Lines that are not events. */
  parseErrors: number;
  /** Events seen again (a `since` replay after a reconnect or a restart) and not delivered twice. */
  duplicates: number;
  /** Successful connections after the first. */
  reconnects: number;
  /** Connection attempts that failed. */
  connectFailures: number;
}

/** Keys of delivered events kept to recognise a replay; more than Docker's 256-event replay buffer. */
const RECENT_KEYS = 4096;
/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 30_000;
/** How close inspect's FinishedAt must be to the die event for its ExitCode to be that die's. */
const EXIT_MATCH_MS = 5_000;

/**
 * The Docker source: metadata for every container and its oom/die/start/destroy events, from a Docker
 * Engine over its unix socket, with read-only calls only.
 *
 * At start and after every reconnect: ping, open `/events` (containers only) with `since` = the last
 * event seen, then list every container (`since` replays only Docker's last 256 events, so a long outage
 * is repaired by the list). Per line of the stream the work is constant: parse, skip a replayed
 * duplicate, move the cursor, call the listener. Inspect calls (pid, exit code behind an `exitCode`
 * label) go to a queue worked off the stream with bounded concurrency.
 *
 * Docker absent or down: `up` is false, one warning names the fix, and the source retries with capped
 * exponential backoff; nothing else in oomwatch waits for it.
 */
export class DockerSource implements Source {
  readonly name: 'docker' | 'podman';
  private isUp = false;
  /** What answered on the socket at the last connection (Docker until /version said otherwise). */
  private engineInfo: Engine | undefined;
  /** Podman pods' infra containers: never workloads, whatever list, inspect or events say of them. */
  private readonly infra = new Set<string>();
  private stopped = true;
  private api: ReadOnlyDockerApi | undefined;
  private readonly allow: LabelAllowList;
  private queue: WorkQueue | undefined;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  private lastCursor: bigint | undefined;
  /** Events at or before this were delivered by an earlier oomwatch process. */
  private persistedCursor: bigint;
  /** When the first stream opened (ns): the replay point after a reconnect before any event was seen. */
  private firstStreamNs: bigint | undefined;
  private readonly recentKeys = new Set<string>();
  /** Container labels (Config.Labels) as last learnt: tells an `exitCode` label from Docker's attribute. */
  private readonly labels = new Map<string, Record<string, string>>();
  /** What is known about each container Docker has, merged from list, inspect and events. */
  private readonly metadata = new Map<string, ContainerMetadata>();
  /** Containers running as far as the stream and the last list tell. */
  private readonly running = new Set<string>();
  /** Started containers to inspect once they have run inspectDelayMs (FIFO: one delay for all). */
  private inspectDue: Array<{ id: string; dueMs: number }> = [];
  private inspectTimer: NodeJS.Timeout | undefined;
  /** Containers destroyed recently: late inspect results for them are dropped. */
  private readonly destroyed = new Set<string>();
  /** While a list is in flight: containers the stream destroyed or (re)described meanwhile. */
  private listing: { destroyed: Set<string>; touched: Set<string> } | undefined;

  private partial = '';
  private outageLogged = false;
  private everConnected = false;
  private readonly loggedOnce = new Set<string>();
  readonly stats: DockerSourceStats = {
    delivered: { create: 0, start: 0, oom: 0, die: 0, destroy: 0, rename: 0, update: 0 },
    ignored: 0,
    parseErrors: 0,
    duplicates: 0,
    reconnects: 0,
    connectFailures: 0,
  };

  constructor(private readonly opts: DockerSourceOptions) {
    this.name = opts.name ?? 'docker';
    this.allow = new LabelAllowList(opts.labelAllow ?? []);
    this.persistedCursor = opts.cursor ?? -1n;
    this.lastCursor = opts.cursor;
  }

  get up(): boolean {
    return this.isUp;
  }

  /** The engine behind the socket, as /version told at the last connection; undefined before the first. */
  get engine(): Readonly<Engine> | undefined {
    return this.engineInfo;
  }

  private get engineKind(): EngineKind {
    return this.engineInfo?.kind ?? 'docker';
  }

  /**
   * The `timeNano` of the newest event delivered (or the cursor given at start when none was since):
   * what the state store persists and passes back as `cursor` on the next start.
   */
  get cursor(): bigint | undefined {
    return this.lastCursor;
  }

  /**
   * The metadata cache: what the source knows about a container Docker has (name without '/', image,
   * Compose and Kubernetes names, sandbox, pid while running, allow-listed labels); undefined for a
   * container Docker destroyed or never reported.
   */
  metadataOf(id: string): Readonly<ContainerMetadata> | undefined {
    return this.metadata.get(id);
  }

  /** Resolves after the first connection attempt, whether Docker answered or not. Never throws. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    // A cursor ahead of the clock (the clock was stepped back, or the state came from another host)
    // would make every live event look already delivered: it is dropped, and replay starts from now.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    if (this.persistedCursor > nowNs + 60_000_000_000n) {
      this.opts.log.warn(
        { cursor: this.persistedCursor.toString(), now: nowNs.toString() },
        'the persisted Docker event cursor is ahead of the clock; ignoring it (events of the outage may be missed)',
      );
      this.persistedCursor = -1n;
      this.lastCursor = undefined;
    }
    this.api ??= this.opts.api ?? dockerodeApi(this.opts.socketPath);
    this.queue = new WorkQueue(this.opts.inspectConcurrency ?? 4, (key, err) => this.onTaskError(key, err));
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.loop = this.run(firstAttempt);
    await attempted;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort?.abort();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    if (this.inspectTimer) clearTimeout(this.inspectTimer);
    this.inspectTimer = undefined;
    this.inspectDue = [];
    this.queue?.close();
    await this.loop?.catch(() => undefined);
    this.isUp = false;
  }

  /** Resolves when no inspect call is waiting or running (tests, benchmark). */
  async settled(): Promise<void> {
    await this.queue?.idle();
  }

  private async run(firstAttempt: () => void): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      let connectedAt: number | undefined;
      try {
        const { ended } = await this.connect();
        connectedAt = Date.now();
        this.markUp();
        firstAttempt();
        const why = await ended;
        if (!this.stopped) this.markDown(why);
      } catch (err) {
        if (!this.stopped) {
          this.stats.connectFailures++;
          this.markDown(err);
        }
        firstAttempt();
      }
      this.abort?.abort();
      if (this.stopped) break;
      if (connectedAt !== undefined && Date.now() - connectedAt >= STABLE_MS) attempt = 0;
      const initial = this.opts.backoffInitialMs ?? 250;
      const max = this.opts.backoffMaxMs ?? 10_000;
      await this.sleep(Math.min(max, initial * 2 ** attempt));
      attempt = Math.min(attempt + 1, 30);
    }
  }

  /** Ping, open the event stream, list containers. `ended` resolves with the reason the stream ended. */
  private async connect(): Promise<{ ended: Promise<unknown> }> {
    const api = this.api as ReadOnlyDockerApi;
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    this.abort = new AbortController();
    const stream = this.abort.signal;
    await api.ping(AbortSignal.any([stream, AbortSignal.timeout(timeoutMs)]));
    const version = await api.version(AbortSignal.any([stream, AbortSignal.timeout(timeoutMs)]));
    const engine = engineFromVersion(version);
    if (this.engineInfo !== undefined && this.engineInfo.kind !== engine.kind) this.infra.clear();
    this.engineInfo = engine;

    const replayFrom = this.lastCursor ?? this.firstStreamNs;
    const openedNs = BigInt(Date.now()) * 1_000_000n;
    const events = await api.containerEvents(
      replayFrom === undefined ? undefined : sinceParameter(replayFrom),
      stream,
    );
    this.firstStreamNs ??= openedNs;
    const ended = this.follow(events);
    try {
      await this.relist(AbortSignal.any([stream, AbortSignal.timeout(timeoutMs)]));
    } catch (err) {
      this.abort.abort();
      throw err;
    }
    if (!this.everConnected || this.outageLogged) {
      const podman = engine.kind === 'podman';
      this.opts.log.info(
        {
          socket: this.opts.socketPath,
          engine: engine.kind,
          [podman ? 'podmanVersion' : 'dockerVersion']: engine.version,
          apiVersion: version.ApiVersion,
          replayFrom: replayFrom?.toString(),
        },
        `${this.everConnected ? `${this.engineName} reachable again` : `connected to ${podman ? '' : 'the '}${this.engineName}`}; following container events${
          podman
            ? ' (Podman reports no OOM events: kills are counted from the kernel log and the cgroup counters)'
            : ''
        }`,
      );
    }
    return { ended };
  }

  /** Read the stream line by line; resolves with the reason it ended. */
  private follow(events: NodeJS.ReadableStream): Promise<unknown> {
    this.partial = '';
    events.setEncoding('utf8');
    return new Promise((resolve) => {
      let done = false;
      const finish = (why: unknown): void => {
        if (done) return;
        done = true;
        events.removeAllListeners('data');
        resolve(why);
      };
      events.on('data', (chunk: string) => this.onChunk(chunk));
      events.on('end', () =>
        finish(new Error('the Docker event stream ended (dockerd stopped or restarted)')),
      );
      events.on('close', () =>
        finish(new Error('the Docker event stream closed (dockerd stopped or restarted)')),
      );
      events.on('error', (err: unknown) => finish(err));
    });
  }

  private onChunk(chunk: string): void {
    let start = 0;
    let text = this.partial === '' ? chunk : this.partial + chunk;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.onLine(text.slice(start, nl));
      start = nl + 1;
    }
    text = text.slice(start);
    // A line is one event of a few KB; anything this long without a newline is not the event stream.
    if (text.length > 1 << 20) {
      this.onLine(text);
      text = '';
    }
    this.partial = text;
  }

  private onLine(line: string): void {
    const r = parseEventLine(line, { labelsOf: (id) => this.labels.get(id), engine: this.engineKind });
    if (r.kind === 'error') {
      this.stats.parseErrors++;
      this.logOnce(
        'parse',
        'warn',
        { problem: r.message },
        'skipping a line of the Docker event stream that is not an event (logged once)',
      );
      return;
    }
    if (r.kind === 'ignored') {
      this.stats.ignored++;
      return;
    }
    const e = r.event;
    const key = `${e.timeNano}|${e.id}|${e.action}`;
    if (e.timeNano <= this.persistedCursor || this.recentKeys.has(key)) {
      this.stats.duplicates++;
      return;
    }
    this.recentKeys.add(key);
    if (this.recentKeys.size > RECENT_KEYS)
      this.recentKeys.delete(this.recentKeys.values().next().value as string);
    if (this.lastCursor === undefined || e.timeNano > this.lastCursor) this.lastCursor = e.timeNano;
    this.stats.delivered[e.action]++;
    this.dispatch(e);
  }

  private dispatch(e: ContainerEvent): void {
    const l = this.opts.listener;
    const engine = this.engineKind;
    const at = { id: e.id, timeMs: e.timeMs, timeNano: e.timeNano, engine };
    this.listing?.touched.add(e.id);
    switch (e.action) {
      case 'create':
        if (!e.legacy) this.learnLabels(e.id, labelsFromAttributes(e.attributes, engine));
        this.checkInfra(e);
        return;
      case 'start': {
        this.checkInfra(e);
        if (!e.legacy) {
          const labels = labelsFromAttributes(e.attributes, engine);
          this.learnLabels(e.id, labels);
          this.publishMetadata(e.id, metadataFromEvent(e.attributes, labels, this.allow));
        }
        this.destroyed.delete(e.id);
        this.running.add(e.id);
        this.call('onStart', () => l.onStart?.(at));
        // The pid (and, for a legacy event, everything else) needs inspect, once the container has
        // lived a little: the short-lived ones, which are most of a busy host's churn, never cost one.
        this.scheduleInspect(e.id);
        return;
      }
      case 'oom':
        this.call('onOom', () => l.onOom?.(at));
        return;
      case 'die':
        this.running.delete(e.id);
        if (e.exitCode !== undefined) {
          this.call('onDie', () =>
            l.onDie?.({ ...at, exitCode: e.exitCode as number, exitCodeFrom: 'event' }),
          );
        } else {
          this.queueExitLookup(e);
        }
        return;
      case 'destroy':
        this.labels.delete(e.id);
        this.metadata.delete(e.id);
        this.infra.delete(e.id);
        this.running.delete(e.id);
        this.destroyed.add(e.id);
        if (this.destroyed.size > RECENT_KEYS)
          this.destroyed.delete(this.destroyed.values().next().value as string);
        this.listing?.destroyed.add(e.id);
        this.call('onDestroy', () => l.onDestroy?.(at));
        return;
      case 'rename':
        this.publishMetadata(e.id, { name: e.name });
        return;
      case 'update':
        this.call('onUpdate', () => l.onUpdate?.(at));
        return;
    }
  }

  /** Merge into the metadata cache, then tell the listener. */
  private publishMetadata(id: string, meta: ContainerMetadata): void {
    // Labels never make a Podman infra container a sandbox: what libpod said is kept over what they imply.
    if (this.infra.has(id)) meta = { ...meta, sandbox: true };
    const known = this.metadata.get(id);
    const merged: ContainerMetadata = { ...known };
    for (const [k, v] of Object.entries(meta))
      if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    this.metadata.set(id, merged);
    this.call('onMetadata', () => this.opts.listener.onMetadata?.(id, meta));
  }

  private learnLabels(id: string, labels: Record<string, string>): void {
    this.labels.set(id, labels);
  }

  /** List every container; metadata for each, inspect queued for running ones, then the inventory. */
  private async relist(signal: AbortSignal): Promise<void> {
    const api = this.api as ReadOnlyDockerApi;
    const atMs = Date.now();
    this.listing = { destroyed: new Set(), touched: new Set() };
    try {
      await this.listInfra(signal);
      const raw = await api.listContainers(signal);
      const listing = this.listing;
      const ids = new Set<string>();
      for (const item of raw) {
        const c = narrowListed(item);
        if (!c || listing.destroyed.has(c.Id)) continue;
        ids.add(c.Id);
        // The stream spoke of this container while the list was in flight: what it said is newer.
        if (listing.touched.has(c.Id)) continue;
        this.labels.set(c.Id, c.Labels ?? {});
        this.publishMetadata(c.Id, metadataFromList(c, this.allow));
        if (c.State === 'running' || c.State === 'restarting' || c.State === 'paused') {
          this.running.add(c.Id);
          this.queueInspect(c.Id);
        } else {
          this.running.delete(c.Id);
        }
      }
      // Labels of containers removed while the stream was down.
      for (const id of this.labels.keys())
        if (!ids.has(id) && !listing.touched.has(id)) this.labels.delete(id);
      for (const id of this.metadata.keys())
        if (!ids.has(id) && !listing.touched.has(id)) this.metadata.delete(id);
      for (const id of this.running) if (!ids.has(id) && !listing.touched.has(id)) this.running.delete(id);
      this.call('onInventory', () => this.opts.listener.onInventory?.(ids, atMs));
    } finally {
      this.listing = undefined;
    }
  }

  /**
   * Podman: which containers are pods' infra containers, from Podman's own list (the Docker-compatible one does
   * not say). A Podman whose libpod list fails is followed all the same, its infra containers then exported.
   */
  private async listInfra(signal: AbortSignal): Promise<void> {
    const api = this.api as ReadOnlyDockerApi;
    const version = this.engineInfo?.libpodApiVersion;
    if (this.engineKind !== 'podman' || version === undefined || !api.libpodContainers) return;
    let ids: Set<string>;
    try {
      ids = infraIdsFromLibpodList(await api.libpodContainers(version, signal));
    } catch (err) {
      if (signal.aborted) throw err;
      this.logOnce(
        'libpod-list',
        'warn',
        { err },
        "Podman's own container list failed: pods' infra containers may be exported as containers (logged once)",
      );
      return;
    }
    this.infra.clear();
    for (const id of ids) this.infra.add(id);
  }

  /**
   * Podman: a container created in a pod (its events carry the pod's id) may be the pod's infra container;
   * Podman's own inspect says, long before its cgroup exists (create comes before init).
   */
  private checkInfra(e: ContainerEvent): void {
    const api = this.api as ReadOnlyDockerApi;
    const version = this.engineInfo?.libpodApiVersion;
    if (this.engineKind !== 'podman' || !e.attributes['podId'] || version === undefined) return;
    if (this.infra.has(e.id) || !api.libpodInspect) return;
    const libpodInspect = api.libpodInspect.bind(api);
    this.queue?.push(`infra:${e.id}`, async () => {
      let raw: unknown;
      try {
        raw = await libpodInspect(version, e.id, AbortSignal.timeout(this.opts.requestTimeoutMs ?? 10_000));
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return;
        throw err;
      }
      if (!isInfraFromLibpodInspect(raw) || this.destroyed.has(e.id)) return;
      this.infra.add(e.id);
      this.publishMetadata(e.id, { sandbox: true });
    });
  }

  /** Inspect a started container after inspectDelayMs, if it still runs then. Constant time. */
  private scheduleInspect(id: string): void {
    this.inspectDue.push({ id, dueMs: Date.now() + (this.opts.inspectDelayMs ?? 1000) });
    if (this.inspectTimer === undefined) this.armInspectTimer();
  }

  private armInspectTimer(): void {
    const next = this.inspectDue[0];
    if (next === undefined || this.stopped) {
      this.inspectTimer = undefined;
      return;
    }
    this.inspectTimer = setTimeout(
      () => {
        const now = Date.now();
        let i = 0;
        for (; i < this.inspectDue.length && (this.inspectDue[i] as { dueMs: number }).dueMs <= now; i++) {
          const { id } = this.inspectDue[i] as { id: string };
          if (this.running.has(id)) this.queueInspect(id);
        }
        this.inspectDue.splice(0, i);
        this.armInspectTimer();
      },
      Math.max(0, next.dueMs - Date.now()),
    );
    this.inspectTimer.unref?.();
  }

  private queueInspect(id: string): void {
    this.queue?.push(`meta:${id}`, async () => {
      const c = await this.inspect(id);
      if (!c || this.destroyed.has(id)) return;
      this.labels.set(id, c.Config?.Labels ?? {});
      const meta = metadataFromInspect(c, this.allow);
      this.publishMetadata(id, meta);
    });
  }

  /**
   * A die without a trustworthy exit code: read State.ExitCode, accepted only when the container is
   * stopped and its FinishedAt is this die's (a restart policy may have started it again meanwhile).
   */
  private queueExitLookup(e: DieEvent): void {
    const at = { id: e.id, timeMs: e.timeMs, timeNano: e.timeNano, engine: this.engineKind };
    const reason =
      e.unknownExit === 'exitCode-label'
        ? "the container has a label named exitCode, which hides Docker's exit code in the die event"
        : e.unknownExit === 'legacy'
          ? 'the die event is in the pre-1.22 format, which has no exit code'
          : 'the die event has no exitCode attribute';
    this.queue?.push(`exit:${e.id}:${e.timeNano}`, async () => {
      let c: ReturnType<typeof narrowInspect>;
      try {
        c = await this.inspect(e.id);
      } catch {
        c = undefined;
      }
      const state = c?.State;
      const finishedMs = state?.FinishedAt === undefined ? NaN : Date.parse(state.FinishedAt);
      if (
        state &&
        state.Running !== true &&
        typeof state.ExitCode === 'number' &&
        Math.abs(finishedMs - e.timeMs) <= EXIT_MATCH_MS
      ) {
        const exitCode = state.ExitCode;
        this.call('onDie', () => this.opts.listener.onDie?.({ ...at, exitCode, exitCodeFrom: 'inspect' }));
        return;
      }
      const why = `${reason}, and the container was ${c ? 'restarted' : 'removed'} before it could be inspected`;
      this.opts.log.debug({ container: e.id.slice(0, 12) }, `exit code unknown: ${why}`);
      this.call('onDie', () =>
        this.opts.listener.onDie?.({ ...at, exitCode: undefined, exitCodeFrom: 'unknown', why }),
      );
    });
  }

  /** Inspect a container; undefined when it no longer exists. */
  private async inspect(id: string): Promise<ReturnType<typeof narrowInspect>> {
    const api = this.api as ReadOnlyDockerApi;
    const signal = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 10_000);
    try {
      return narrowInspect(await api.inspectContainer(id, signal));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  /** How the log names what answers: the Docker Engine, or Podman's Docker-compatible API. */
  private get engineName(): string {
    return this.engineKind === 'podman' ? "Podman's Docker-compatible API" : 'Docker Engine';
  }

  private onTaskError(key: string, err: unknown): void {
    // While Docker is down every inspect fails; the reconnect lists and inspects again.
    if (!this.isUp) return;
    this.logOnce(
      `task:${key.split(':')[0]}`,
      'warn',
      { err, task: key },
      'a Docker inspect call failed; metadata may lag until the next start or reconnect (logged once)',
    );
  }

  /** A listener that throws is a bug in oomwatch; it must not stop the stream. */
  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logOnce(
        `listener:${what}`,
        'error',
        { err, callback: what },
        'a Docker event listener threw; the event stream carries on (logged once per callback)',
      );
    }
  }

  private markUp(): void {
    if (this.everConnected) this.stats.reconnects++;
    this.everConnected = true;
    this.outageLogged = false;
    this.isUp = true;
  }

  private markDown(err: unknown): void {
    this.isUp = false;
    const who = this.name === 'podman' ? 'Podman' : 'Docker';
    const problem = describeDockerProblem(
      err,
      this.opts.socketPath,
      this.opts.requestTimeoutMs ?? 10_000,
      this.name,
    );
    if (this.outageLogged) {
      this.opts.log.debug({ socket: this.opts.socketPath, problem }, `${who} still unreachable`);
      return;
    }
    this.outageLogged = true;
    const maxS = (this.opts.backoffMaxMs ?? 10_000) / 1000;
    this.opts.log.warn(
      { socket: this.opts.socketPath, problem },
      `${who} source down: ${problem}. oomwatch carries on without ${who} events and metadata (cgroup counters and the kernel log still count OOM kills) and retries every ${maxS} s at most (--${this.name}-socket none turns the ${who} source off); this is logged once until ${who} is back`,
    );
  }

  private logOnce(key: string, level: 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    if (this.loggedOnce.has(key)) return;
    this.loggedOnce.add(key);
    this.opts.log[level](obj, msg);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
      this.sleepTimer.unref?.();
    });
  }
}
