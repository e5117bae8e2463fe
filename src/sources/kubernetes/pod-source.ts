import type { Logger } from 'pino';
import type { ContainerEntry, ContainerTable } from '../../state/containers';
import type { Source } from '../../source';
import type { KubeClient } from './client';
import { type PodContainerView, type PodLike, type PodView, podView, terminationKey } from './pod-view';

/**
 * The pods of this node, from the Kubernetes API: a list, then a watch from the list's resourceVersion, as
 * client-go's reflector does it.
 *
 *   - Only this node's pods: fieldSelector spec.nodeName=<node> on both (the API server indexes pods by node).
 *   - The watch asks for bookmarks (allowWatchBookmarks), so its resourceVersion keeps moving on a quiet node
 *     and a reconnect rarely falls out of the server's window.
 *   - The server closes a watch after timeoutSeconds (5 to 10 minutes, random so that a whole fleet of
 *     DaemonSet pods does not reconnect at once); oomwatch watches again from the last resourceVersion.
 *   - A 410 Gone (an ERROR event with an Expired Status, or HTTP 410) means that resourceVersion is compacted
 *     away: list again, replacing the cache (pods missing from the new list were deleted meanwhile).
 *   - Failures (connection refused, dropped, 5xx, 401/403) back off exponentially, capped, with jitter.
 *
 * What it does with them:
 *   - namespace, pod and container labels on every series of a pod's containers, matched by container id
 *     (status containerID `containerd://<id>`, `cri-o://<id>`, `docker://<id>`);
 *   - the pod sandbox (pause container): a cgroup under a known pod whose id no container status lists is
 *     marked as a sandbox and never exported. A brand-new workload container can look like that for the
 *     moment between its cgroup appearing and the kubelet reporting its id; the next pod update unmarks it.
 *     Nothing is marked while the API is not up to date, so a stale cache never hides a workload;
 *   - per pod container: the kubelet's restart count, the kubelet's OOM terminations (reason OOMKilled, each
 *     run counted once, keyed by its container id and finish time), and the memory request and limit.
 */

export interface PodSourceOptions {
  client: KubeClient;
  table: ContainerTable;
  nodeName: string;
  log: Logger;
  /** How long a deleted pod's series stay (the --series-grace of container series). */
  seriesGraceMs: number;
  backoff?: { initialMs: number; maxMs: number };
  /** Server-side watch timeout; random in 300..600 s when not set. */
  watchTimeoutSeconds?: number;
  pageSize?: number;
  now?: () => number;
}

/** Where one pod lives in the cgroup tree and which API object it is. */
export interface PodMatch {
  pod: PodView;
  /** The container of the pod the cgroup belongs to; undefined for the sandbox or an id not yet reported. */
  container?: PodContainerView;
}

/** What oomwatch exports of one container of a pod (metrics/kubernetes-families.ts renders it). */
export interface PodContainerSeries {
  namespace: string;
  pod: string;
  container: string;
  restarts: number;
  kubeletOomKills: number;
  /** Keys of the OOMKilled terminations already seen (the last few runs). */
  seenTerminations: string[];
  requestBytes?: number;
  limitBytes?: number;
  goneAtMs?: number;
}

type WatchOutcome = 'closed' | 'expired';

class WatchExpired extends Error {}

export class KubernetesPodSource implements Source {
  readonly name = 'kubernetes';
  private isUp = false;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private cancelWatch: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  private resourceVersion: string | undefined;
  private readonly pods = new Map<string, PodView>();
  /** The UID in a pod's cgroup name (its API uid, or a static pod's config hash) -> API uid. */
  private readonly byCgroupUid = new Map<string, string>();
  /** Container id (current and previous runs) -> pod uid. */
  private readonly byContainerId = new Map<string, string>();
  private readonly series = new Map<string, PodContainerSeries>();
  private startedMs = 0;
  private synced = false;

  /** For /metrics: lists done and watch restarts by reason. */
  /** Full lists of the node's pods, and watches ended by reason: monotonic, for /metrics. */
  readonly stats = { lists: 0, watchRestarts: { closed: 0, expired: 0, error: 0 } };

  constructor(private readonly opts: PodSourceOptions) {}

  get up(): boolean {
    return this.isUp;
  }

  /** Whether the first list has been applied (tests, readiness of the Event writer). */
  get hasSynced(): boolean {
    return this.synced;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.startedMs = this.now();
    // Label new containers as soon as discovery (or the kernel log) creates them. The hook runs inside
    // table.ensure(), before the caller has set the cgroup path; a microtask later the path is there and no
    // scrape can have run in between (the poller sets it synchronously).
    this.unsubscribe = this.opts.table.onCreated((entry) => queueMicrotask(() => this.annotate(entry)));
    this.sweepTimer = setInterval(() => this.sweep(), 30_000);
    this.sweepTimer.unref();
    this.opts.log.info(
      { server: this.opts.client.server, node: this.opts.nodeName },
      "Kubernetes source: watching this node's pods",
    );
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelWatch?.();
    this.wake?.();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.loop?.catch(() => undefined);
    this.isUp = false;
  }

  // ---------------------------------------------------------------- lookups (the Event writer)

  /** The pod (and container) a container of the table belongs to, if the API has told. */
  podOf(entry: ContainerEntry): PodMatch | undefined {
    const uid = this.byContainerId.get(entry.id);
    if (uid !== undefined) {
      const pod = this.pods.get(uid);
      if (pod) {
        const container = pod.containers.find((c) => c.ids.includes(entry.id));
        return container ? { pod, container } : { pod };
      }
    }
    const cgroupUid = entry.path?.podUid;
    if (cgroupUid === undefined) return undefined;
    const apiUid = this.byCgroupUid.get(cgroupUid);
    const pod = apiUid === undefined ? undefined : this.pods.get(apiUid);
    return pod ? { pod } : undefined;
  }

  // ---------------------------------------------------------------- list + watch

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) await this.list();
        const watchStarted = this.now();
        const { outcome, events } = await this.watchOnce();
        if (outcome === 'expired') {
          this.stats.watchRestarts.expired++;
          this.opts.log.info(
            { resourceVersion: this.resourceVersion },
            'Kubernetes watch expired (410 Gone): listing the pods again',
          );
          this.resourceVersion = undefined;
          failures = 0;
          continue;
        }
        this.stats.watchRestarts.closed++;
        // A watch the server ends at once, again and again (a misbehaving proxy), must not become a busy loop.
        if (events === 0 && this.now() - watchStarted < 1000) failures++;
        else failures = 0;
        if (failures > 0) await this.sleep(this.backoffMs(failures));
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof WatchExpired || httpStatusOf(err) === 410) {
          // A watch ERROR 410, or a list whose continue token expired: start over from a fresh list.
          this.stats.watchRestarts.expired++;
          this.resourceVersion = undefined;
          continue;
        }
        this.stats.watchRestarts.error++;
        failures++;
        const wasUp = this.isUp || failures === 1;
        this.isUp = false;
        const delay = this.backoffMs(failures);
        const log = { err: describeError(err), retryInMs: Math.round(delay), failures };
        if (wasUp)
          this.opts.log.warn(log, `Kubernetes API request failed; retrying with backoff. ${fixFor(err)}`);
        else this.opts.log.debug(log, 'Kubernetes API still failing');
        await this.sleep(delay);
      }
    }
  }

  private async list(): Promise<void> {
    const { k8s, kc } = this.opts.client;
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const items: PodLike[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    let first = true;
    do {
      const page = await api.listPodForAllNamespaces({
        fieldSelector: `spec.nodeName=${this.opts.nodeName}`,
        limit: this.opts.pageSize ?? 500,
        // "0": served from the API server's watch cache (indexed by node) rather than a quorum read from
        // etcd, as the kubelet lists; a continue token must come without one.
        ...(first ? { resourceVersion: '0' } : { _continue: cont as string }),
      });
      first = false;
      items.push(...(page.items as PodLike[]));
      rv = page.metadata?.resourceVersion;
      cont = page.metadata?._continue;
    } while (cont);
    this.replaceAll(items);
    this.resourceVersion = rv;
    this.stats.lists++;
    this.synced = true;
    if (!this.isUp)
      this.opts.log.info({ pods: this.pods.size, resourceVersion: rv }, 'Kubernetes pods listed');
    this.isUp = true;
    // Now that the cache is current, sandboxes can be told from workloads.
    for (const entry of this.opts.table.values()) this.annotate(entry);
  }

  private watchOnce(): Promise<{ outcome: WatchOutcome; events: number }> {
    const { k8s, kc } = this.opts.client;
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    return new Promise((resolve, reject) => {
      let events = 0;
      let expired = false;
      let failure: Error | undefined;
      let settled = false;
      let controller: AbortController | undefined;
      const settle = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.cancelWatch = undefined;
        controller?.abort();
        if (expired || httpStatusOf(err) === 410) resolve({ outcome: 'expired', events });
        else if (failure) reject(failure);
        else if (err && !this.stopped && !isAbort(err)) reject(err);
        else resolve({ outcome: 'closed', events });
      };
      // Ends the watch from this side (stop(), the watchdog, a bad event), also while the request is still
      // waiting for the server's response headers, before the client has handed out its AbortController.
      this.cancelWatch = () => settle(null);
      // The server ends the watch after timeoutSeconds; a connection that died without a FIN (or a server
      // that never answers) would hang forever, so oomwatch gives up on it a little later.
      const watchdog = setTimeout(() => settle(null), (timeoutSeconds + 30) * 1000);
      const onEvent = (type: string, obj: unknown): void => {
        if (settled) return;
        events++;
        try {
          this.onWatchEvent(type, obj);
        } catch (err) {
          if (err instanceof WatchExpired) expired = true;
          else failure = err as Error;
          settle(null);
        }
      };
      new k8s.Watch(kc)
        .watch(
          '/api/v1/pods',
          {
            fieldSelector: `spec.nodeName=${this.opts.nodeName}`,
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
          },
          onEvent,
          settle,
        )
        .then(
          (c) => {
            controller = c;
            if (settled) {
              c.abort();
              return;
            }
            if (!this.isUp) {
              this.isUp = true;
              this.opts.log.info('Kubernetes API reachable again: watching pods');
            }
          },
          (err: unknown) => settle(err),
        );
    });
  }

  private onWatchEvent(type: string, obj: unknown): void {
    const o = obj as PodLike & { code?: number; message?: string; reason?: string };
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        const view = podView(o);
        if (view) this.upsert(view);
        break;
      }
      case 'DELETED': {
        const uid = o.metadata?.uid;
        if (uid) this.remove(uid);
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR':
        if (o.code === 410) throw new WatchExpired(o.message ?? 'Expired');
        throw new Error(`watch ERROR event: ${o.code ?? '?'} ${o.reason ?? ''} ${o.message ?? ''}`.trim());
      default:
        return;
    }
    const rv = o.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
  }

  // ---------------------------------------------------------------- the cache

  private replaceAll(items: PodLike[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const view = podView(item);
      if (!view) continue;
      seen.add(view.uid);
      this.upsert(view);
    }
    for (const uid of [...this.pods.keys()]) if (!seen.has(uid)) this.remove(uid);
  }

  private upsert(view: PodView): void {
    const previous = this.pods.get(view.uid);
    if (previous) this.unindex(previous);
    this.pods.set(view.uid, view);
    this.byCgroupUid.set(view.uid, view.uid);
    if (view.mirrorOf) this.byCgroupUid.set(view.mirrorOf, view.uid);
    for (const c of view.containers) for (const id of c.ids) this.byContainerId.set(id, view.uid);

    if (view.problems.length > 0 && view.problems.join() !== previous?.problems.join()) {
      this.opts.log.warn(
        { namespace: view.namespace, pod: view.name, problems: view.problems },
        'pod spec has memory quantities oomwatch cannot read; their request/limit series are left out',
      );
    }
    for (const c of view.containers) this.updateSeries(view, c);
    this.annotatePod(view);
  }

  private remove(uid: string): void {
    const view = this.pods.get(uid);
    if (!view) return;
    this.unindex(view);
    this.pods.delete(uid);
    const now = this.now();
    for (const c of view.containers) {
      const s = this.series.get(seriesKey(view, c));
      if (s) s.goneAtMs = now;
    }
  }

  private unindex(view: PodView): void {
    if (this.byCgroupUid.get(view.uid) === view.uid) this.byCgroupUid.delete(view.uid);
    if (view.mirrorOf && this.byCgroupUid.get(view.mirrorOf) === view.uid)
      this.byCgroupUid.delete(view.mirrorOf);
    for (const c of view.containers)
      for (const id of c.ids) if (this.byContainerId.get(id) === view.uid) this.byContainerId.delete(id);
  }

  private updateSeries(view: PodView, c: PodContainerView): void {
    const key = seriesKey(view, c);
    let s = this.series.get(key);
    if (!s) {
      s = {
        namespace: view.namespace,
        pod: view.name,
        container: c.name,
        restarts: 0,
        kubeletOomKills: 0,
        seenTerminations: [],
      };
      this.series.set(key, s);
    }
    delete s.goneAtMs;
    s.restarts = c.restartCount;
    if (c.requestBytes === undefined) delete s.requestBytes;
    else s.requestBytes = c.requestBytes;
    if (c.limitBytes === undefined) delete s.limitBytes;
    else s.limitBytes = c.limitBytes;
    for (const t of c.terminations) {
      if (t.reason !== 'OOMKilled') continue;
      const tk = terminationKey(t);
      if (s.seenTerminations.includes(tk)) continue;
      s.seenTerminations.push(tk);
      if (s.seenTerminations.length > 8) s.seenTerminations.shift();
      // Terminations from before this source started were counted by no one here; the series starts at 0
      // so that the first kill it shows is an increase (a kill while oomwatch was down is in the fused
      // counter, which is persisted; this is a cross-check).
      if (t.finishedAtMs === undefined || t.finishedAtMs >= this.startedMs - 1000) s.kubeletOomKills++;
    }
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, s] of this.series)
      if (s.goneAtMs !== undefined && now - s.goneAtMs >= this.opts.seriesGraceMs) this.series.delete(key);
  }

  // ---------------------------------------------------------------- labels on the container table

  private annotatePod(view: PodView): void {
    for (const entry of this.opts.table.values()) {
      if (this.byContainerId.get(entry.id) === view.uid) this.annotate(entry);
      else if (entry.path?.podUid === view.uid || (view.mirrorOf && entry.path?.podUid === view.mirrorOf))
        this.annotate(entry);
    }
  }

  /** Put what the API says about a container's pod onto its table entry. */
  annotate(entry: ContainerEntry): void {
    const match = this.podOf(entry);
    if (!match) return;
    const { pod, container } = match;
    if (container) {
      if (container.runtime && entry.path?.podUid !== undefined && entry.path.runtime !== container.runtime) {
        // The cgroupfs driver's bare ids do not say containerd or cri-dockerd; the pod status does.
        entry.path = { ...entry.path, runtime: container.runtime };
      }
      entry.applyMetadata({
        namespace: pod.namespace,
        pod: pod.name,
        container: container.name,
        sandbox: false,
      });
      return;
    }
    // A cgroup of a known pod whose id no status lists: the sandbox, unless the cache is stale.
    if (this.isUp && entry.path?.podUid !== undefined) {
      entry.applyMetadata({ namespace: pod.namespace, pod: pod.name, container: '', sandbox: true });
    }
  }

  // ---------------------------------------------------------------- what is exported

  /** Every pod container's series, present or within the grace period (`goneAtMs` set). */
  containerSeries(): IterableIterator<Readonly<PodContainerSeries>> {
    return this.series.values();
  }

  /** Pods of this node known from the API. */
  get podCount(): number {
    return this.pods.size;
  }

  // ---------------------------------------------------------------- helpers

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  private backoffMs(failures: number): number {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
    return Math.min(maxMs, base * (0.8 + Math.random() * 0.4));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function seriesKey(view: PodView, c: PodContainerView): string {
  return `${view.uid}/${c.kind}/${c.name}`;
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'AbortError' || (err as { type?: string } | null)?.type === 'aborted';
}

/** A short, loggable description of a client error (the generated client's ApiException carries the body). */
function describeError(err: unknown): string {
  const e = err as { message?: string; body?: unknown };
  const code = httpStatusOf(err);
  let text = e.message ?? String(err);
  if (typeof e.body === 'string') {
    try {
      const status = JSON.parse(e.body) as { message?: string };
      if (status.message) text = status.message;
    } catch {
      // not a Status body: keep the message
    }
  }
  return code === undefined ? text : `HTTP ${code}: ${text}`;
}

/** The HTTP status of a failed request: ApiException.code, or statusCode from the watch (never errno codes). */
export function httpStatusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

function fixFor(err: unknown): string {
  const code = httpStatusOf(err);
  if (code === 401)
    return 'The API server rejected the credentials: check the service account token or the kubeconfig user.';
  if (code === 403)
    return 'The service account may not list/watch pods: apply deploy/kubernetes/rbac.yaml (get/list/watch pods, create/patch events).';
  return 'Check that the API server is reachable from this node.';
}
