import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { containerFromCgroupPath } from '../../cgroup/container-path';
import type { RuntimeCgroupHints } from '../../cgroup/hints';
import type { ContainerMetadata } from '../../state/labels';
import type { Source } from '../../source';
import { LabelAllowList } from '../container-labels';
import { WorkQueue } from '../work-queue';
import {
  type EventSubscription,
  type RawEnvelope,
  type ReadOnlyContainerdApi,
  grpcContainerdApi,
} from './api';
import { type ContainerdEvent, EVENT_FILTERS, parseEnvelope } from './events';
import {
  type ContainerdContainer,
  type ContainerdTask,
  containerName,
  metadataFromContainer,
  narrowContainer,
  narrowNamespaces,
  narrowTasks,
} from './metadata';

/** A task event of a container: TaskOOM, TaskStart. */
export interface ContainerdTaskEvent {
  namespace: string;
  /** The container id (the table's key). */
  id: string;
  timeMs: number;
  timeNano: bigint;
}

/** A container's own exit: the TaskExit of its init process, or a stopped task found by a list. */
export interface ContainerdExit extends ContainerdTaskEvent {
  exitCode: number;
  /** `event`: TaskExit on the stream; `list`: a stopped task a (re)connect found, its exit not seen before. */
  from: 'event' | 'list';
}

/**
 * What the containerd source tells the rest of oomwatch (main.ts hands it to the OOM ledger and the container
 * table). Calls come straight from the event stream and must return quickly.
 */
export interface ContainerdListener {
  /** TaskOOM: an OOM situation in the container's cgroup (its init or any child; several per kill on v1). */
  onOom?(event: ContainerdTaskEvent): void;
  /** The container's own exit, with its exit status. TaskExit has no OOM flag: the ledger decides. */
  onExit?(event: ContainerdExit): void;
  /** TaskStart: a new run of the container, with its init's pid. */
  onStart?(event: ContainerdTaskEvent & { pid: number }): void;
  /** Metadata learnt from a list, Containers/Get or an event; fields not known are undefined. */
  onMetadata?(id: string, meta: ContainerMetadata): void;
}

export interface ContainerdSourceOptions {
  /** containerd's gRPC unix socket (`--containerd-socket`). */
  socketPath: string;
  listener: ContainerdListener;
  log: Logger;
  /** `--containerd-namespaces`: only these. Undefined: every namespace containerd has, but `exclude`. */
  namespaces?: readonly string[];
  /** Namespaces never watched when `namespaces` is undefined (`moby` while the Docker source runs). */
  exclude?: readonly string[];
  /** `--label-allow`: container labels copied into ContainerMetadata.info. */
  labelAllow?: readonly string[];
  /** Where the source says which cgroups are its containers' (shared with discovery and the ledger). */
  hints?: RuntimeCgroupHints;
  /**
   * The cursor persisted by the state store: the exit time (ns) up to which exits were delivered. Stopped tasks
   * a list finds that exited after it are exits oomwatch missed (it was down, or the stream was); before it,
   * they were delivered already. Without one (a first start), exits from before the first connection are not
   * delivered.
   */
  cursor?: bigint;
  /** First reconnect delay, doubled on each failure up to backoffMaxMs. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Deadline of every call but the lists (which get three times as long). */
  requestTimeoutMs?: number;
  /** Containers/Get calls in flight at once. */
  getConcurrency?: number;
  /** The API to use instead of gRPC over socketPath (tests). */
  api?: ReadOnlyContainerdApi;
}

/** Counters for tests and debugging; all monotonic. */
export interface ContainerdSourceStats {
  delivered: Record<ContainerdEvent['kind'] | 'list-exit', number>;
  /** Well-formed envelopes oomwatch does not act on (an exec's exit, other namespaces, other topics). */
  ignored: number;
  /** Envelopes that could not be read. */
  parseErrors: number;
  /** Events seen twice (a shim re-publishing after a containerd restart) and not delivered again. */
  duplicates: number;
  reconnects: number;
  connectFailures: number;
}

interface Known {
  namespace: string;
  meta: ContainerMetadata;
}

/** Keys of delivered events kept to recognise a repeat. */
const RECENT_KEYS = 4096;
/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 30_000;
const HEX64 = /^[0-9a-f]{64}$/;
/** gRPC status codes read here (grpc/doc/statuscodes.md). */
const DEADLINE_EXCEEDED = 4;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNIMPLEMENTED = 12;
const UNAVAILABLE = 14;

/**
 * The containerd source: names and images of containerd's containers (nerdctl, ctr, the CRI plugin), their
 * TaskOOM, TaskStart and TaskExit events, and the namespaces and cgroups discovery needs, over containerd's
 * gRPC socket with read-only calls only.
 *
 * containerd keeps no event history, so at start and after every reconnect the source subscribes first and
 * only then lists (namespaces, then each namespace's containers and tasks): whatever happens from the
 * subscription on arrives on the stream, whatever happened before is in the lists. A stopped task the list
 * shows, whose exit was not delivered and is newer than the cursor, is delivered as an exit then. Kills
 * themselves never depend on this source: the kernel log and cgroup counters count them.
 *
 * containerd absent or down: `up` is false, one warning names the fix, and the source retries with capped
 * exponential backoff; nothing else in oomwatch waits for it.
 */
export class ContainerdSource implements Source {
  readonly name = 'containerd';
  private isUp = false;
  private stopped = true;
  private api: ReadOnlyContainerdApi | undefined;
  private readonly allow: LabelAllowList;
  private readonly only: ReadonlySet<string> | undefined;
  private readonly exclude: ReadonlySet<string>;
  private queue: WorkQueue | undefined;
  private abort: AbortController | undefined;
  private subscription: EventSubscription | undefined;
  private loop: Promise<void> | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  /** Namespaces watched that containerd has (listed, or seen on the stream). */
  private readonly namespaces = new Set<string>();
  private readonly known = new Map<string, Known>();
  private readonly recentKeys = new Set<string>();
  /** Exits up to this time (ns) were delivered (see the cursor option). */
  private exitCursor: bigint | undefined;
  /** While a list is in flight: containers the stream deleted or described meanwhile. */
  private listing: { deleted: Set<string>; touched: Set<string> } | undefined;

  private outageLogged = false;
  private everConnected = false;
  private readonly loggedOnce = new Set<string>();
  readonly stats: ContainerdSourceStats = {
    delivered: {
      'task-start': 0,
      'task-oom': 0,
      'task-exit': 0,
      'container-create': 0,
      'container-update': 0,
      'container-delete': 0,
      'namespace-create': 0,
      'namespace-delete': 0,
      'list-exit': 0,
    },
    ignored: 0,
    parseErrors: 0,
    duplicates: 0,
    reconnects: 0,
    connectFailures: 0,
  };

  constructor(private readonly opts: ContainerdSourceOptions) {
    this.allow = new LabelAllowList(opts.labelAllow ?? []);
    this.only = opts.namespaces === undefined ? undefined : new Set(opts.namespaces);
    this.exclude = new Set(opts.exclude ?? []);
    this.exitCursor = opts.cursor;
  }

  get up(): boolean {
    return this.isUp;
  }

  /** The exit cursor to persist (see the cursor option). */
  get cursor(): bigint | undefined {
    return this.exitCursor;
  }

  /** What the source knows about a container containerd has: names, image, pid while running, sandbox. */
  metadataOf(id: string): Readonly<ContainerMetadata> | undefined {
    return this.known.get(id)?.meta;
  }

  /** The namespaces watched, as far as containerd has told (sorted). */
  watchedNamespaces(): string[] {
    return [...this.namespaces].sort();
  }

  /** Resolves after the first connection attempt, whether containerd answered or not. Never throws. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.api ??= this.opts.api ?? grpcContainerdApi(this.opts.socketPath);
    if (this.queue) this.queue.open();
    else this.queue = new WorkQueue(this.opts.getConcurrency ?? 4, (key, err) => this.onTaskError(key, err));
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.loop = this.run(firstAttempt);
    await attempted;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.disconnect();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    this.queue?.close();
    await this.loop?.catch(() => undefined);
    this.api?.close();
    this.isUp = false;
  }

  /** Resolves when no Containers/Get call is waiting or running (tests). */
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
      this.disconnect();
      // A new channel for the next attempt: nothing of a broken connection is reused.
      this.api?.close();
      if (this.stopped) break;
      if (connectedAt !== undefined && Date.now() - connectedAt >= STABLE_MS) attempt = 0;
      const initial = this.opts.backoffInitialMs ?? 250;
      const max = this.opts.backoffMaxMs ?? 10_000;
      await this.sleep(Math.min(max, initial * 2 ** attempt));
      attempt = Math.min(attempt + 1, 30);
    }
  }

  private disconnect(): void {
    this.subscription?.cancel();
    this.subscription = undefined;
    this.abort?.abort();
  }

  /** Subscribe, check that containerd answers, list. `ended` resolves with the reason the stream ended. */
  private async connect(): Promise<{ ended: Promise<unknown> }> {
    const api = this.api as ReadOnlyContainerdApi;
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    let endStream!: (why: unknown) => void;
    const ended = new Promise<unknown>((resolve) => (endStream = resolve));
    const openedNs = BigInt(Date.now()) * 1_000_000n;
    this.subscription = await api.subscribe(
      EVENT_FILTERS,
      (env) => this.onEnvelope(env),
      (err) =>
        endStream(err ?? new Error('the containerd event stream ended (containerd stopped or restarted)')),
    );
    // The subscription says nothing until an event comes: Version proves the socket answers.
    const version = await api.version({ timeoutMs, signal });
    // A first start: exits from before this connection are not oomwatch's to count.
    this.exitCursor ??= openedNs;
    await this.relist(signal, timeoutMs * 3);
    if (!this.everConnected || this.outageLogged) {
      this.opts.log.info(
        {
          socket: this.opts.socketPath,
          containerdVersion: version.version,
          revision: version.revision,
          namespaces: this.watchedNamespaces(),
        },
        this.everConnected
          ? 'containerd reachable again; following task and container events'
          : 'connected to containerd; following task and container events',
      );
    }
    return { ended };
  }

  /** Whether a namespace is one to watch (`--containerd-namespaces`, else all but the excluded). */
  private allowed(namespace: string): boolean {
    return this.only ? this.only.has(namespace) : !this.exclude.has(namespace);
  }

  private noteNamespace(namespace: string): void {
    if (this.namespaces.has(namespace) || !this.allowed(namespace)) return;
    this.namespaces.add(namespace);
    this.opts.hints?.setContainerdNamespaces(this.namespaces);
  }

  /** List namespaces, then each watched namespace's containers and tasks. */
  private async relist(signal: AbortSignal, timeoutMs: number): Promise<void> {
    const api = this.api as ReadOnlyContainerdApi;
    const names = narrowNamespaces(await api.listNamespaces({ timeoutMs, signal }));
    this.namespaces.clear();
    for (const n of names) if (this.allowed(n)) this.namespaces.add(n);
    this.opts.hints?.setContainerdNamespaces(this.namespaces);
    if (this.only) {
      const missing = [...this.only].filter((n) => !this.namespaces.has(n));
      if (missing.length > 0)
        this.logOnce(
          `missing:${missing.join(',')}`,
          'warn',
          { missing, namespaces: names },
          'containerd has no namespace of these names (yet): watching them once they appear; check --containerd-namespaces',
        );
    }

    this.listing = { deleted: new Set(), touched: new Set() };
    try {
      const listed = new Set<string>();
      for (const namespace of [...this.namespaces].sort()) {
        const containers: ContainerdContainer[] = [];
        await api.listContainers({ namespace, timeoutMs, signal }, (raw) => {
          const c = narrowContainer(raw, namespace);
          if (c) containers.push(c);
        });
        const tasks = narrowTasks(await api.listTasks({ namespace, timeoutMs, signal }), namespace);
        const taskOf = new Map(tasks.map((t) => [t.containerId, t]));
        for (const c of containers) {
          listed.add(c.id);
          const { deleted, touched } = this.listing;
          // The stream spoke of this container while the list was in flight: what it said is newer.
          if (deleted.has(c.id) || touched.has(c.id)) continue;
          const task = taskOf.get(c.id);
          const meta = metadataFromContainer(c, this.allow);
          if (task?.status === 'running' && task.pid > 0) meta.pid = task.pid;
          this.learn(c, meta);
        }
        for (const t of tasks) if (t.status === 'stopped') this.listedExit(t);
      }
      for (const id of [...this.known.keys()])
        if (!listed.has(id) && !this.listing.touched.has(id)) this.forget(id);
    } finally {
      this.listing = undefined;
    }
  }

  /** A stopped task a list found: an exit oomwatch missed, unless delivered already or before the cursor. */
  private listedExit(t: ContainerdTask): void {
    if (t.exitedAtNano === undefined) return;
    const key = exitKey(t.namespace, t.containerId, t.exitedAtNano);
    if (this.recentKeys.has(key)) return;
    if (this.exitCursor !== undefined && t.exitedAtNano <= this.exitCursor) return;
    this.remember(key);
    this.exitCursor = t.exitedAtNano;
    this.stats.delivered['list-exit']++;
    const timeMs = Number(t.exitedAtNano / 1_000_000n);
    this.call('onExit', () =>
      this.opts.listener.onExit?.({
        namespace: t.namespace,
        id: t.containerId,
        exitCode: t.exitStatus,
        timeMs,
        timeNano: t.exitedAtNano as bigint,
        from: 'list',
      }),
    );
  }

  private onEnvelope(env: RawEnvelope): void {
    const r = parseEnvelope(env);
    if (r.kind === 'error') {
      this.stats.parseErrors++;
      this.logOnce(
        'parse',
        'warn',
        { problem: r.message },
        'skipping an envelope of the containerd event stream that cannot be read (logged once)',
      );
      return;
    }
    if (r.kind === 'ignored') {
      this.stats.ignored++;
      return;
    }
    const e = r.event;
    if (e.kind === 'namespace-create' || e.kind === 'namespace-delete') {
      this.stats.delivered[e.kind]++;
      if (e.kind === 'namespace-create') this.noteNamespace(e.name);
      else if (this.namespaces.delete(e.name)) this.opts.hints?.setContainerdNamespaces(this.namespaces);
      return;
    }
    if (!this.allowed(e.namespace)) {
      this.stats.ignored++;
      return;
    }
    // A namespace appears with its first container, without an event of its own.
    this.noteNamespace(e.namespace);
    const key =
      e.kind === 'task-exit'
        ? exitKey(e.namespace, e.containerId, e.exitedAtNano)
        : `${e.kind}|${e.namespace}|${'containerId' in e ? e.containerId : e.id}|${e.timeNano}`;
    if (this.recentKeys.has(key)) {
      this.stats.duplicates++;
      return;
    }
    this.remember(key);
    this.stats.delivered[e.kind]++;
    this.dispatch(e);
  }

  private dispatch(e: ContainerdEvent): void {
    const l = this.opts.listener;
    switch (e.kind) {
      case 'task-start': {
        const at = { namespace: e.namespace, id: e.containerId, timeMs: e.timeMs, timeNano: e.timeNano };
        this.listing?.touched.add(e.containerId);
        if (e.pid > 0) this.publish(e.namespace, e.containerId, { pid: e.pid });
        this.call('onStart', () => l.onStart?.({ ...at, pid: e.pid }));
        return;
      }
      case 'task-oom':
        this.call('onOom', () =>
          l.onOom?.({ namespace: e.namespace, id: e.containerId, timeMs: e.timeMs, timeNano: e.timeNano }),
        );
        return;
      case 'task-exit': {
        if (this.exitCursor === undefined || e.exitedAtNano > this.exitCursor)
          this.exitCursor = e.exitedAtNano;
        const timeMs = Number(e.exitedAtNano / 1_000_000n);
        this.call('onExit', () =>
          l.onExit?.({
            namespace: e.namespace,
            id: e.containerId,
            exitCode: e.exitCode,
            timeMs,
            timeNano: e.exitedAtNano,
            from: 'event',
          }),
        );
        return;
      }
      case 'container-create': {
        this.listing?.touched.add(e.id);
        this.listing?.deleted.delete(e.id);
        // What the event tells at once; labels and the spec's cgroup come with Containers/Get.
        const meta: ContainerMetadata = { image: e.image, runtime: 'containerd' };
        if (!HEX64.test(e.id)) meta.name = containerName(e.id, {});
        this.publish(e.namespace, e.id, meta);
        // containerd's cgroupfs default, until the spec says: a kill may come before Get answers.
        this.placeCgroup(e.id, e.namespace, undefined);
        this.queueGet(e.namespace, e.id);
        return;
      }
      case 'container-update':
        this.listing?.touched.add(e.id);
        this.queueGet(e.namespace, e.id);
        return;
      case 'container-delete':
        this.listing?.deleted.add(e.id);
        this.forget(e.id);
        return;
    }
  }

  /** Containers/Get off the stream: labels, image and the spec's cgroup of a created or updated container. */
  private queueGet(namespace: string, id: string): void {
    this.queue?.push(`get:${namespace}/${id}`, async () => {
      const api = this.api as ReadOnlyContainerdApi;
      let raw: unknown;
      try {
        raw = await api.getContainer({ namespace, timeoutMs: this.opts.requestTimeoutMs ?? 10_000 }, id);
      } catch (err) {
        if ((err as { code?: number }).code === NOT_FOUND) return; // deleted already (ctr run --rm)
        throw err;
      }
      const c = narrowContainer(raw, namespace);
      if (!c || !this.known.has(id)) return; // deleted while the call was in flight
      this.learn(c, metadataFromContainer(c, this.allow));
    });
  }

  /** Keep and publish what a list or Get told of a container, and where its cgroup is. */
  private learn(c: ContainerdContainer, meta: ContainerMetadata): void {
    this.publish(c.namespace, c.id, meta);
    this.placeCgroup(c.id, c.namespace, c.cgroupPath);
  }

  /**
   * Tell discovery and the ledger where a container's cgroup is when no path pattern would: an id its user
   * chose, a `--cgroup` of the user's. Containers the patterns find (nerdctl's and the CRI plugin's 64-hex ids
   * in their usual layouts) are not told, so a busy host's churn does not make discovery start over.
   */
  private placeCgroup(id: string, namespace: string, specPath: string | undefined): void {
    const hints = this.opts.hints;
    if (!hints) return;
    const path = specPath ?? `/${namespace}/${id}`;
    const byPattern = containerFromCgroupPath(path, {
      ...noContainerPaths,
      containerdNamespaces: this.namespaces,
    });
    if (byPattern?.id === id) hints.removeContainer(id);
    else hints.setContainer(id, 'containerd', [path]);
  }

  /** Merge into the metadata cache, then tell the listener. */
  private publish(namespace: string, id: string, meta: ContainerMetadata): void {
    const known = this.known.get(id);
    const merged: ContainerMetadata = { ...known?.meta };
    for (const [k, v] of Object.entries(meta))
      if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    merged.runtime = 'containerd';
    this.known.set(id, { namespace, meta: merged });
    this.call('onMetadata', () => this.opts.listener.onMetadata?.(id, { ...meta, runtime: 'containerd' }));
  }

  private forget(id: string): void {
    this.known.delete(id);
    this.opts.hints?.containerDeleted(id);
  }

  private remember(key: string): void {
    this.recentKeys.add(key);
    if (this.recentKeys.size > RECENT_KEYS)
      this.recentKeys.delete(this.recentKeys.values().next().value as string);
  }

  private onTaskError(key: string, err: unknown): void {
    // While containerd is down every call fails; the reconnect lists again.
    if (!this.isUp) return;
    this.logOnce(
      `task:${key.split(':')[0]}`,
      'warn',
      { err, task: key },
      'a containerd Containers/Get call failed; names may lag until the next reconnect (logged once)',
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
        'a containerd event listener threw; the event stream carries on (logged once per callback)',
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
    const problem = describeProblem(err, this.opts.socketPath, this.opts.requestTimeoutMs ?? 10_000);
    if (this.outageLogged) {
      this.opts.log.debug({ socket: this.opts.socketPath, problem }, 'containerd still unreachable');
      return;
    }
    this.outageLogged = true;
    const maxS = (this.opts.backoffMaxMs ?? 10_000) / 1000;
    this.opts.log.warn(
      { socket: this.opts.socketPath, problem },
      `containerd source down: ${problem}. oomwatch carries on without containerd's names and events (cgroup counters and the kernel log still count OOM kills) and retries every ${maxS} s at most; this is logged once until containerd is back`,
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

const noContainerPaths = { hasContainerPaths: false, containerAt: () => undefined, version: 0 };

function exitKey(namespace: string, id: string, exitedAtNano: bigint): string {
  return `exit|${namespace}|${id}|${exitedAtNano}`;
}

/** Name the problem and its fix, for the one warning an outage gets. */
export function describeProblem(err: unknown, socketPath: string, timeoutMs: number): string {
  const e = err as { code?: number | string; details?: string; message?: string };
  const text = `${e.details ?? ''} ${e.message ?? ''}`;
  if (e.code === UNAVAILABLE || typeof e.code !== 'number') {
    if (/\bENOENT\b/.test(text))
      return `no containerd socket at ${socketPath}; fix: start containerd, or mount its socket into the oomwatch container (-v /run/containerd/containerd.sock:/run/containerd/containerd.sock), or point --containerd-socket at it, or leave --containerd-socket unset to turn the containerd source off`;
    if (/\bECONNREFUSED\b/.test(text)) {
      if (exists(socketPath) && !isSocket(socketPath))
        return `${socketPath} is not a unix socket; fix: point --containerd-socket at containerd's socket (/run/containerd/containerd.sock)`;
      return `nothing listens on ${socketPath} (containerd is not running); fix: start it (systemctl start containerd), or leave --containerd-socket unset to turn the containerd source off`;
    }
    if (/\b(EACCES|EPERM)\b/.test(text))
      return `permission denied on ${socketPath}; fix: run oomwatch as root (containerd's socket is root's)`;
  }
  switch (e.code) {
    case DEADLINE_EXCEEDED:
      return `containerd at ${socketPath} did not answer within ${timeoutMs / 1000} s; it may be overloaded or hung`;
    case PERMISSION_DENIED:
      return `containerd at ${socketPath} refused the call (${e.details ?? e.message ?? ''})`;
    case UNIMPLEMENTED:
      return `${socketPath} does not serve containerd's API (${e.details ?? ''}); fix: point --containerd-socket at containerd's own socket, not a CRI or Docker one`;
    case UNAVAILABLE:
      return `containerd at ${socketPath} went away (${e.details ?? e.message ?? 'unavailable'}): stopped or restarting`;
  }
  if ((e as { code?: string }).code === 'MODULE_NOT_FOUND')
    return `the gRPC client cannot be loaded (${e.message ?? ''}); fix: reinstall oomwatch's dependencies (npm ci)`;
  return `${e.message ?? String(err)} (socket ${socketPath})`;
}

function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function isSocket(p: string): boolean {
  try {
    return fs.statSync(p).isSocket();
  } catch {
    return false;
  }
}
