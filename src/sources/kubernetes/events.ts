import type { CoreV1Api, CoreV1Event, V1ObjectReference } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OomKill } from '../../state/oom-kill';
import type { ContainerEntry } from '../../state/containers';
import type { KubeClient } from './client';
import type { PodMatch } from './pod-source';
import { httpStatusOf } from './pod-source';
import { fieldPath } from './pod-view';
import { isoUtc } from '../../iso-time';

/**
 * Kubernetes Events for OOM kills, so that `kubectl get events --field-selector reason=OOMKilling` and
 * `kubectl describe pod` show them:
 *   - a kill in a pod's container: an Event on the Pod (involvedObject kind Pod with its uid, fieldPath
 *     spec.containers{name} as the kubelet writes for container events), type Warning, reason OOMKilling;
 *   - a system OOM (the node ran out of memory): an Event on the Node (kind Node, uid = node name as the
 *     kubelet's node reference has it, in namespace default), whatever the victim; a victim in a pod also
 *     gets the Pod's Event.
 *
 * Which API: core/v1 Events (POST /api/v1/namespaces/NS/events, PATCH .../events/NAME with a strategic
 * merge patch), as the kubelet's recorder (client-go tools/record) writes them. `kubectl get events` lists
 * them with COUNT / FIRST SEEN / LAST SEEN from count, firstTimestamp, lastTimestamp, and they need no
 * eventTime/action/series bookkeeping of events.k8s.io/v1; both APIs serve the same objects.
 *
 * Rate limits and deduplication, after client-go's EventCorrelator (tools/record/events_cache.go):
 *   - aggregation: kills of the same container (same involved object and field path) within a window
 *     (10 minutes since the last one, as the correlator's aggregation interval) are one Event whose count
 *     grows: the first kill creates it, later kills PATCH count, lastTimestamp and message (the latest kill);
 *   - write pacing: at most one write per Event per minWriteIntervalMs; kills in between are carried by the
 *     next patch's count, so a fork bomb killed a thousand times is a few patches, not a thousand;
 *   - spam filter: new Events per involved object draw from a token bucket (burst 25, one more every 5
 *     minutes: the correlator's defaults); past it they are dropped and counted.
 * An Event deleted meanwhile by the API server's TTL (a PATCH answering 404) is created again.
 *
 * A kill is posted after victimWaitMs: the kernel-log record that names the victim often arrives a moment
 * after a cgroup counter counted the kill. Kills from before oomwatch started (kernel log replayed from its
 * cursor, cgroup counters read for the first time) are not posted: their Events were written by the previous
 * instance, or their time is not known.
 */

export interface EventWriterOptions {
  client: KubeClient;
  pods: { podOf(entry: ContainerEntry): PodMatch | undefined };
  nodeName: string;
  log: Logger;
  victimWaitMs?: number;
  windowMs?: number;
  minWriteIntervalMs?: number;
  /** Kills of unknown exact time counted this soon after start are taken as older than oomwatch. */
  startupGraceMs?: number;
  burst?: number;
  refillPerMs?: number;
  now?: () => number;
}

export type EventWriteResult = 'created' | 'patched' | 'failed' | 'rate_limited';

interface Target {
  key: string;
  namespace: string;
  involved: V1ObjectReference;
  /** The token bucket the spam filter draws from: one per involved object. */
  objectKey: string;
  message: string;
}

interface Aggregate {
  target: Target;
  name: string | undefined;
  firstMs: number;
  lastMs: number;
  /** Kills aggregated so far; `written` of them are on the server. */
  count: number;
  written: number;
  message: string;
  lastWriteMs: number;
  inFlight: boolean;
  timer: NodeJS.Timeout | undefined;
  failures: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

const REASON = 'OOMKilling';
const COMPONENT = 'oomwatch';

export class OomEventWriter {
  private readonly aggregates = new Map<string, Aggregate>();
  private readonly buckets = new Map<string, Bucket>();
  /** Kills waiting for their victim, with what posts them. */
  private readonly waiting = new Map<NodeJS.Timeout, () => void>();
  /** Events written, by result: monotonic, for /metrics. */
  readonly results: Record<EventWriteResult, number> = { created: 0, patched: 0, failed: 0, rate_limited: 0 };
  private api: CoreV1Api | undefined;
  private startedMs = 0;
  private stopped = true;
  /** Shutting down: no new kills taken, what is pending is written once. */
  private closing = false;
  private nameSeq = 0;

  constructor(private readonly opts: EventWriterOptions) {}

  start(): void {
    this.stopped = false;
    this.closing = false;
    this.startedMs = this.now();
    this.api = this.opts.client.kc.makeApiClient(this.opts.client.k8s.CoreV1Api);
  }

  /**
   * Post the kills still waiting for their victim and write every pending count once, within flushMs (a kill
   * just before the DaemonSet pod is replaced keeps its Event), then stop.
   */
  async stop(flushMs = 2000): Promise<void> {
    if (this.stopped) return;
    this.closing = true;
    for (const [timer, post] of this.waiting) {
      clearTimeout(timer);
      post();
    }
    this.waiting.clear();
    const writes: Array<Promise<void>> = [];
    for (const a of this.aggregates.values()) {
      if (a.timer) clearTimeout(a.timer);
      a.timer = undefined;
      if (!a.inFlight && a.written < a.count) writes.push(this.write(a));
    }
    if (writes.length > 0) {
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(writes),
        new Promise<void>((resolve) => (deadline = setTimeout(resolve, flushMs))),
      ]);
      clearTimeout(deadline);
    }
    this.stopped = true;
    for (const a of this.aggregates.values()) if (a.timer) clearTimeout(a.timer);
  }

  /** The ledger's kill listener (ledger.onKill). Quick: it only schedules. */
  onKill(record: Readonly<OomKill>, entry: ContainerEntry | undefined, change: 'counted' | 'updated'): void {
    if (this.stopped || this.closing || change !== 'counted') return;
    if (record.scope === 'other') return; // a cgroup that is neither a pod's nor the node running out
    // The record is the ledger's own object: when this runs it carries what the other sources added.
    const post = (): void => this.post(record, entry);
    const timer = setTimeout(() => {
      this.waiting.delete(timer);
      post();
    }, this.opts.victimWaitMs ?? 1500);
    timer.unref();
    this.waiting.set(timer, post);
  }

  private post(record: Readonly<OomKill>, entry: ContainerEntry | undefined): void {
    if (this.stopped) return;
    if (this.predatesStart(record)) {
      this.opts.log.debug({ kill: record.key }, 'OOM kill from before oomwatch started: no Kubernetes Event');
      return;
    }
    const match = entry ? this.opts.pods.podOf(entry) : undefined;
    const targets: Target[] = [];
    if (match && entry && !entry.sandbox) targets.push(this.podTarget(record, entry, match));
    if (record.scope === 'system') targets.push(this.nodeTarget(record, match));
    for (const t of targets) this.observe(t, record.timeMs);
  }

  private predatesStart(record: Readonly<OomKill>): boolean {
    if (record.timeExact) return record.timeMs < this.startedMs - 5000;
    return this.now() - this.startedMs < (this.opts.startupGraceMs ?? 10_000);
  }

  // ---------------------------------------------------------------- what the Event says

  private podTarget(record: Readonly<OomKill>, entry: ContainerEntry, match: PodMatch): Target {
    const { pod, container } = match;
    const involved: V1ObjectReference = {
      kind: 'Pod',
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      apiVersion: 'v1',
    };
    if (container) involved.fieldPath = fieldPath(container);
    const containerName = container?.name ?? `with id ${entry.id.slice(0, 12)}`;
    const limit = record.limitBytes ?? container?.limitBytes;
    const cause =
      record.scope === 'system' ? 'System OOM (the node ran out of memory)' : 'Memory cgroup out of memory';
    const message = `${cause}: killed ${victimText(record)} in container ${containerName}${
      limit !== undefined ? `, memory limit ${bytesText(limit)}` : ', no memory limit'
    }`;
    return {
      key: `pod/${pod.uid}/${involved.fieldPath ?? entry.id}`,
      namespace: pod.namespace,
      involved,
      objectKey: `pod/${pod.uid}`,
      message,
    };
  }

  private nodeTarget(record: Readonly<OomKill>, match: PodMatch | undefined): Target {
    const where = match
      ? ` of pod ${match.pod.namespace}/${match.pod.name}${match.container ? ` container ${match.container.name}` : ''}`
      : '';
    return {
      key: 'node',
      // Node events go to the default namespace, as client-go's recorder puts events of cluster-scoped objects.
      namespace: 'default',
      involved: { kind: 'Node', name: this.opts.nodeName, uid: this.opts.nodeName, apiVersion: 'v1' },
      objectKey: 'node',
      message: `System OOM (the node ran out of memory): killed ${victimText(record)}${where}`,
    };
  }

  // ---------------------------------------------------------------- aggregation and pacing

  private observe(target: Target, timeMs: number): void {
    const now = this.now();
    this.prune(now);
    let a = this.aggregates.get(target.key);
    if (!a) {
      if (!this.takeToken(target.objectKey, now)) {
        this.count('rate_limited');
        this.opts.log.debug(
          { object: target.objectKey },
          'OOM Event dropped by the spam filter (burst 25, then 1 per 5 min per object)',
        );
        return;
      }
      a = {
        target,
        name: undefined,
        firstMs: timeMs,
        lastMs: timeMs,
        count: 0,
        written: 0,
        message: target.message,
        lastWriteMs: -Infinity,
        inFlight: false,
        timer: undefined,
        failures: 0,
      };
      this.aggregates.set(target.key, a);
    }
    a.count++;
    a.lastMs = Math.max(a.lastMs, timeMs);
    a.message = target.message;
    this.schedule(a);
  }

  /**
   * Forget Events whose window has closed (all written) and token buckets that have refilled: what is left
   * is bounded by the containers killed in the last window, not by every container the node ever ran.
   */
  private prune(now: number): void {
    const window = this.opts.windowMs ?? 600_000;
    for (const [key, a] of this.aggregates) {
      if (now - a.lastMs > window && !a.inFlight && !a.timer && a.written >= a.count)
        this.aggregates.delete(key);
    }
    const burst = this.opts.burst ?? 25;
    const refill = this.opts.refillPerMs ?? 1 / 300_000;
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.atMs) * refill >= burst) this.buckets.delete(key);
    }
  }

  private schedule(a: Aggregate): void {
    if (a.inFlight || a.timer || this.stopped || this.closing || a.written >= a.count) return;
    const interval = this.opts.minWriteIntervalMs ?? 5000;
    const backoff = a.failures > 0 ? Math.min(60_000, 1000 * 2 ** (a.failures - 1)) : 0;
    const wait = Math.max(0, a.lastWriteMs + Math.max(interval, backoff) - this.now());
    if (wait === 0) {
      void this.write(a);
      return;
    }
    a.timer = setTimeout(() => {
      a.timer = undefined;
      void this.write(a);
    }, wait);
    a.timer.unref();
  }

  private async write(a: Aggregate): Promise<void> {
    if (this.stopped || !this.api) return;
    a.inFlight = true;
    const count = a.count;
    const op = a.name === undefined ? 'create' : 'patch';
    try {
      if (a.name === undefined) {
        const name = this.eventName(a.target);
        await this.api.createNamespacedEvent({
          namespace: a.target.namespace,
          body: this.eventBody(a, name, count),
        });
        a.name = name;
        this.count('created');
        this.opts.log.info(
          {
            event: `${a.target.namespace}/${name}`,
            involved: `${a.target.involved.kind}/${a.target.involved.name}`,
          },
          'Kubernetes Event created for an OOM kill',
        );
      } else {
        const { k8s } = this.opts.client;
        await this.api.patchNamespacedEvent(
          {
            namespace: a.target.namespace,
            name: a.name,
            body: { count, lastTimestamp: rfc3339(a.lastMs), message: a.message },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
        );
        this.count('patched');
      }
      a.written = count;
      a.failures = 0;
    } catch (err) {
      const code = httpStatusOf(err);
      if (op === 'patch' && code === 404) {
        a.name = undefined; // removed by the event TTL: create it again, carrying the whole count
      } else if (op === 'create' && code === 409) {
        // the name is taken (two kills in the same nanosecond): the next attempt picks another
      } else {
        a.failures++;
        const giveUp = a.failures >= 5 || (code !== undefined && code >= 400 && code < 500 && code !== 429);
        this.opts.log.warn(
          { err: (err as Error).message, code, event: a.target.key, failures: a.failures, giveUp },
          giveUp
            ? `writing a Kubernetes Event failed; dropping it. ${code === 403 ? 'The service account may not create/patch events: apply deploy/kubernetes/rbac.yaml.' : ''}`.trim()
            : 'writing a Kubernetes Event failed; retrying with backoff',
        );
        if (giveUp) {
          this.count('failed');
          a.written = a.count;
          a.failures = 0;
        }
      }
    } finally {
      a.inFlight = false;
      a.lastWriteMs = this.now();
    }
    this.schedule(a);
  }

  private eventBody(a: Aggregate, name: string, count: number): CoreV1Event {
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: a.target.namespace },
      involvedObject: a.target.involved,
      reason: REASON,
      message: a.message,
      type: 'Warning',
      count,
      firstTimestamp: new Date(secondsFloor(a.firstMs)),
      lastTimestamp: new Date(secondsFloor(a.lastMs)),
      source: { component: COMPONENT, host: this.opts.nodeName },
      reportingComponent: COMPONENT,
      reportingInstance: this.opts.nodeName,
    };
  }

  /** `<object name>.<hex nanoseconds>`, as client-go names events; unique and a valid DNS subdomain. */
  private eventName(target: Target): string {
    const ns = BigInt(this.now()) * 1_000_000n + BigInt(this.nameSeq++ % 1_000_000);
    const suffix = `.${ns.toString(16)}`;
    return `${(target.involved.name ?? 'oom').slice(0, 253 - suffix.length)}${suffix}`;
  }

  private takeToken(objectKey: string, now: number): boolean {
    const burst = this.opts.burst ?? 25;
    const refill = this.opts.refillPerMs ?? 1 / 300_000;
    const b = this.buckets.get(objectKey) ?? { tokens: burst, atMs: now };
    b.tokens = Math.min(burst, b.tokens + (now - b.atMs) * refill);
    b.atMs = now;
    this.buckets.set(objectKey, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private count(result: EventWriteResult): void {
    this.results[result]++;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }
}

function victimText(record: Readonly<OomKill>): string {
  const v = record.victim;
  if (!v) return 'a process (victim not known: the kernel log was not readable or did not name it)';
  const parts = [v.anonRssBytes, v.fileRssBytes, v.shmemRssBytes];
  const known = parts.filter((p): p is number => p !== undefined);
  const rss = known.length > 0 ? `, rss ${bytesText(known.reduce((s, p) => s + p, 0))}` : '';
  const detail =
    v.anonRssBytes !== undefined
      ? ` (anon ${bytesText(v.anonRssBytes)}, file ${bytesText(v.fileRssBytes ?? 0)}, shmem ${bytesText(v.shmemRssBytes ?? 0)})`
      : '';
  return `process ${v.pid} (${v.comm})${rss}${detail}`;
}

/** Bytes the way a pod spec writes them: 256Mi, 1.5Gi, 800Ki. */
export function bytesText(n: number): string {
  const units: Array<[string, number]> = [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ];
  for (const [unit, size] of units) {
    if (n >= size) {
      const v = n / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1).replace(/\.0$/, '')}${unit}`;
    }
  }
  return String(n);
}

function secondsFloor(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** metav1.Time's wire form: RFC 3339 in seconds. */
function rfc3339(ms: number): string {
  return isoUtc(secondsFloor(ms)).replace(/\.\d{3}Z$/, 'Z');
}
