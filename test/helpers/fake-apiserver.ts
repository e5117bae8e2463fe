import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { FIXTURES as ALL_FIXTURES } from './paths';

/**
 * A Kubernetes API server for the tests, speaking the parts of the protocol oomwatch uses, with the
 * API's own shapes (test/fixtures/k8s/README.md names the sources):
 *
 *   GET   /api/v1/pods?fieldSelector=spec.nodeName=N&limit=&continue=&resourceVersion=
 *         a PodList (items without kind/apiVersion, as the API lists them), paginated with continue tokens
 *   GET   /api/v1/pods?watch=true&resourceVersion=R&allowWatchBookmarks=true&timeoutSeconds=T
 *         a chunked stream of WatchEvent JSON documents, one per line ({"type":"ADDED","object":{...}}):
 *         no resourceVersion (or "0"): ADDED for every current pod first, then changes; R: every change
 *         after R, then live; R older than the compaction point: an ERROR event with a 410 Expired Status
 *   POST  /api/v1/namespaces/NS/events           create a core/v1 Event (validated as the API server does
 *                                                 for events without eventTime: legacyValidateEvent)
 *   PATCH /api/v1/namespaces/NS/events/NAME      strategic-merge / merge patch
 *   GET   /api/v1/events?fieldSelector=reason=R  an EventList, as `kubectl get events -A --field-selector` asks
 *
 * Tests drive it: add/modify/delete pods (each bumps the resourceVersion and is sent to every watch),
 * send a bookmark, expire every watch (410), drop every watch connection mid-stream, fail requests.
 */

export const FIXTURES = path.join(ALL_FIXTURES, 'k8s');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  authorization: string | undefined;
  body?: Json;
  atMs: number;
}

export interface EventWrite {
  op: 'create' | 'patch';
  namespace: string;
  name: string;
  contentType: string | undefined;
  body: Json;
  atMs: number;
}

interface Watch {
  res: http.ServerResponse;
  nodeName: string | undefined;
  bookmarks: boolean;
  timer?: NodeJS.Timeout;
}

interface HistoryEntry {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  pod: Json;
}

interface Failure {
  method: string;
  pathPrefix: string;
  status: number;
  times: number;
}

export function loadFixture(name: string): Json {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
}

/** A Status object as the API server writes it (k8s.io/apimachinery/pkg/apis/meta/v1/types.go). */
export function status(code: number, reason: string, message: string, details?: Json): Json {
  const s: Json = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details !== undefined) s.details = details;
  return s;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class FakeApiServer {
  url = '';
  readonly requests: RecordedRequest[] = [];
  readonly eventWrites: EventWrite[] = [];
  /** Stored Events by "namespace/name". */
  readonly events = new Map<string, Json>();
  /** Pods served, by uid. */
  readonly pods = new Map<string, Json>();
  /** Largest page a list returns (continue tokens beyond it). */
  pageSize: number | undefined;

  private server: http.Server | undefined;
  private rv = 1000;
  private compactedRv = 0;
  private history: HistoryEntry[] = [];
  private readonly watches = new Set<Watch>();
  private failures: Failure[] = [];
  private uidSeq = 0;
  /** Watches opened so far (a reconnect is a new one). */
  watchCount = 0;

  constructor(private readonly opts: { tls?: boolean; token?: string } = {}) {}

  async start(): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.send(res, 500, status(500, 'InternalError', String(err)));
      });
    };
    this.server = this.opts.tls
      ? https.createServer(
          {
            cert: fs.readFileSync(path.join(FIXTURES, 'tls', 'server.crt')),
            key: fs.readFileSync(path.join(FIXTURES, 'tls', 'server.key')),
          },
          handler,
        )
      : http.createServer(handler);
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) {
      if (w.timer) clearTimeout(w.timer);
      w.res.destroy();
    }
    this.watches.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  get activeWatches(): number {
    return this.watches.size;
  }

  // ------------------------------------------------------------------ driving the server

  addPod(pod: Json): Json {
    return this.change('ADDED', pod);
  }

  modifyPod(pod: Json): Json {
    return this.change('MODIFIED', pod);
  }

  deletePod(uid: string): void {
    const pod = this.pods.get(uid);
    if (!pod) throw new Error(`no pod ${uid}`);
    this.change('DELETED', pod);
  }

  /** A BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  bookmark(): void {
    this.rv++; // other resources changed meanwhile: bookmarks move past changes a node's watch never sees
    const line = {
      type: 'BOOKMARK',
      object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } },
    };
    for (const w of this.watches) if (w.bookmarks) this.write(w, line);
  }

  /**
   * Compact history at the current resourceVersion: every open watch gets the 410 ERROR event and ends, and
   * later watches or continue tokens from an older resourceVersion get it too.
   */
  expire(): void {
    this.compactedRv = this.rv;
    this.history = [];
    for (const w of [...this.watches]) {
      this.write(w, { type: 'ERROR', object: this.expiredStatus(this.rv - 1) });
      this.endWatch(w);
    }
  }

  /** Cut every watch connection mid-stream, half a line written, as a dying load balancer would. */
  dropWatches(): void {
    for (const w of [...this.watches]) {
      w.res.write('{"type":"MODIFIED","object":{"kind":"Pod","apiVers');
      if (w.timer) clearTimeout(w.timer);
      this.watches.delete(w);
      w.res.socket?.destroy();
    }
  }

  /** The next `times` requests whose path starts with pathPrefix fail with an error Status. */
  failNext(method: string, pathPrefix: string, code: number, times = 1): void {
    this.failures.push({ method, pathPrefix, status: code, times });
  }

  /** As the API server's event TTL (--event-ttl, 1 h by default) does. */
  expireEvent(namespace: string, name: string): void {
    this.events.delete(`${namespace}/${name}`);
  }

  /** Events as `kubectl get events -A --field-selector reason=<reason>` lists them. */
  eventsWithReason(reason: string): Json[] {
    return [...this.events.values()].filter((e) => e.reason === reason);
  }

  // ------------------------------------------------------------------ protocol

  private change(type: HistoryEntry['type'], pod: Json): Json {
    const stored = clone(pod);
    stored.kind = 'Pod';
    stored.apiVersion = 'v1';
    stored.metadata ??= {};
    stored.metadata.uid ??= `00000000-0000-4000-8000-${String(++this.uidSeq).padStart(12, '0')}`;
    stored.metadata.resourceVersion = String(++this.rv);
    if (type === 'DELETED') this.pods.delete(stored.metadata.uid);
    else this.pods.set(stored.metadata.uid, stored);
    this.history.push({ rv: this.rv, type, pod: stored });
    for (const w of this.watches)
      if (matchesNode(stored, w.nodeName)) this.write(w, { type, object: stored });
    return stored;
  }

  private expiredStatus(rv: number): Json {
    return status(410, 'Expired', `too old resource version: ${rv} (${this.compactedRv})`);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    const contentType = req.headers['content-type'];
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      contentType,
      authorization: req.headers.authorization,
      atMs: Date.now(),
    };
    if (raw.length > 0) rec.body = JSON.parse(raw);
    this.requests.push(rec);

    if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const failure = this.failures.find(
      (f) => f.method === rec.method && url.pathname.startsWith(f.pathPrefix),
    );
    if (failure) {
      if (--failure.times <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      this.send(res, failure.status, status(failure.status, 'InternalError', 'injected failure'));
      return;
    }

    if (rec.method === 'GET' && url.pathname === '/api/v1/pods') {
      if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1')
        this.watch(url, res);
      else this.listPods(url, res);
      return;
    }
    const ev = /^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/.exec(url.pathname);
    if (ev && rec.method === 'POST' && ev[2] === undefined)
      return this.createEvent(ev[1] as string, rec, res);
    if (ev && rec.method === 'PATCH' && ev[2] !== undefined)
      return this.patchEvent(ev[1] as string, ev[2], rec, res);
    if (rec.method === 'GET' && (url.pathname === '/api/v1/events' || (ev && ev[2] === undefined))) {
      const reason = /(?:^|,)reason=([^,]+)/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
      const items = [...this.events.values()].filter(
        (e) => (reason === undefined || e.reason === reason) && (!ev || e.metadata.namespace === ev[1]),
      );
      this.send(res, 200, {
        kind: 'EventList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items: items.map(stripKind),
      });
      return;
    }
    this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
  }

  private nodeOf(url: URL, res: http.ServerResponse): string | undefined | null {
    const selector = url.searchParams.get('fieldSelector');
    if (selector === null || selector === '') return undefined;
    const m = /^spec\.nodeName=(.*)$/.exec(selector);
    if (!m) {
      this.send(
        res,
        400,
        status(400, 'BadRequest', `unable to parse requirement: field label not supported: ${selector}`),
      );
      return null;
    }
    return m[1] as string;
  }

  private listPods(url: URL, res: http.ServerResponse): void {
    const node = this.nodeOf(url, res);
    if (node === null) return;
    const all = [...this.pods.values()]
      .filter((p) => matchesNode(p, node))
      .sort((a, b) =>
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        ),
      );
    let start = 0;
    let listRv = this.rv;
    const token = url.searchParams.get('continue');
    if (token) {
      const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { rv: number; start: number };
      if (t.rv < this.compactedRv) {
        this.send(
          res,
          410,
          status(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          ),
        );
        return;
      }
      start = t.start;
      listRv = t.rv;
    }
    const limit = Number(url.searchParams.get('limit') ?? '0') || Infinity;
    const page = Math.min(limit, this.pageSize ?? Infinity);
    const items = all.slice(start, start + page);
    const metadata: Json = { resourceVersion: String(listRv) };
    if (start + page < all.length) {
      metadata.continue = Buffer.from(JSON.stringify({ rv: listRv, start: start + page })).toString('base64');
      metadata.remainingItemCount = all.length - start - page;
    }
    this.send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata, items: items.map(stripKind) });
  }

  private watch(url: URL, res: http.ServerResponse): void {
    const node = this.nodeOf(url, res);
    if (node === null) return;
    this.watchCount++;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // as the API server's watch handler flushes right after the headers
    const w: Watch = {
      res,
      nodeName: node,
      bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
    };
    this.watches.add(w);
    res.on('close', () => {
      if (w.timer) clearTimeout(w.timer);
      this.watches.delete(w);
    });
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeout > 0) w.timer = setTimeout(() => this.endWatch(w), timeout * 1000);

    const from = url.searchParams.get('resourceVersion');
    if (from === null || from === '' || from === '0') {
      for (const p of this.pods.values())
        if (matchesNode(p, node)) this.write(w, { type: 'ADDED', object: p });
      return;
    }
    const rv = Number(from);
    if (rv < this.compactedRv) {
      this.write(w, { type: 'ERROR', object: this.expiredStatus(rv) });
      this.endWatch(w);
      return;
    }
    for (const h of this.history)
      if (h.rv > rv && matchesNode(h.pod, node)) this.write(w, { type: h.type, object: h.pod });
  }

  private write(w: Watch, event: Json): void {
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  private endWatch(w: Watch): void {
    if (w.timer) clearTimeout(w.timer);
    this.watches.delete(w);
    w.res.end();
  }

  private createEvent(namespace: string, rec: RecordedRequest, res: http.ServerResponse): void {
    const ev = clone(rec.body ?? {});
    const name: string | undefined = ev.metadata?.name;
    this.eventWrites.push({
      op: 'create',
      namespace,
      name: name ?? '',
      contentType: rec.contentType,
      body: rec.body,
      atMs: rec.atMs,
    });
    if (ev.metadata?.namespace !== undefined && ev.metadata.namespace !== namespace) {
      this.send(
        res,
        400,
        status(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        ),
      );
      return;
    }
    const problems = validateLegacyEvent(ev, namespace);
    if (problems.length > 0) {
      this.send(
        res,
        422,
        status(422, 'Invalid', `Event "${name ?? ''}" is invalid: ${problems.join(', ')}`, {
          name,
          kind: 'Event',
        }),
      );
      return;
    }
    const key = `${namespace}/${name as string}`;
    if (this.events.has(key)) {
      this.send(
        res,
        409,
        status(409, 'AlreadyExists', `events "${name as string}" already exists`, { name, kind: 'events' }),
      );
      return;
    }
    ev.kind = 'Event';
    ev.apiVersion = 'v1';
    ev.metadata.namespace = namespace;
    ev.metadata.uid = `e0000000-0000-4000-8000-${String(++this.uidSeq).padStart(12, '0')}`;
    ev.metadata.resourceVersion = String(++this.rv);
    ev.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    this.events.set(key, ev);
    this.send(res, 201, ev);
  }

  private patchEvent(namespace: string, name: string, rec: RecordedRequest, res: http.ServerResponse): void {
    this.eventWrites.push({
      op: 'patch',
      namespace,
      name,
      contentType: rec.contentType,
      body: rec.body,
      atMs: rec.atMs,
    });
    const type = rec.contentType?.split(';')[0];
    if (type !== 'application/strategic-merge-patch+json' && type !== 'application/merge-patch+json') {
      this.send(
        res,
        415,
        status(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
        ),
      );
      return;
    }
    const key = `${namespace}/${name}`;
    const existing = this.events.get(key);
    if (!existing) {
      this.send(res, 404, status(404, 'NotFound', `events "${name}" not found`, { name, kind: 'events' }));
      return;
    }
    const merged = mergePatch(existing, rec.body);
    merged.metadata.resourceVersion = String(++this.rv);
    this.events.set(key, merged);
    this.send(res, 200, merged);
  }

  private send(res: http.ServerResponse, code: number, body: Json): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

function matchesNode(pod: Json, node: string | undefined): boolean {
  return node === undefined || pod.spec?.nodeName === node;
}

function stripKind(o: Json): Json {
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = o;
  return rest;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** JSON merge patch (RFC 7386): what a strategic merge patch of an Event's scalar fields amounts to. */
function mergePatch(target: Json, patch: Json): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Json =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * What the API server checks when a core/v1 Event without eventTime is created
 * (pkg/apis/core/validation/events.go legacyValidateEvent, plus ValidateObjectMeta's name rule).
 */
function validateLegacyEvent(ev: Json, namespace: string): string[] {
  const problems: string[] = [];
  const name = ev.metadata?.name;
  if (typeof name !== 'string' || name.length === 0) problems.push('metadata.name: Required value');
  else if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
    problems.push(`metadata.name: Invalid value: "${name}"`);
  const io = ev.involvedObject;
  if (io === undefined) problems.push('involvedObject: Required value');
  else if (!io.namespace) {
    if (namespace !== '' && namespace !== 'default')
      problems.push(`involvedObject.namespace: Invalid value: "": does not match event.namespace`);
  } else if (io.namespace !== namespace) {
    problems.push(
      `involvedObject.namespace: Invalid value: "${String(io.namespace)}": does not match event.namespace`,
    );
  }
  if (ev.type !== undefined && ev.type !== 'Normal' && ev.type !== 'Warning')
    problems.push(`type: Unsupported value: "${String(ev.type)}"`);
  if (ev.eventTime) problems.push('eventTime: this fake server only validates events without eventTime');
  return problems;
}

/** A kubeconfig for the fake server, as `kubectl config view --raw` writes one (clusters, users, contexts). */
export function writeKubeconfig(file: string, server: string, opts: { token?: string } = {}): string {
  const ca = fs.readFileSync(path.join(FIXTURES, 'tls', 'ca.crt')).toString('base64');
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: test',
    '    cluster:',
    `      server: ${server}`,
    ...(server.startsWith('https:') ? [`      certificate-authority-data: ${ca}`] : []),
    'users:',
    '  - name: oomwatch',
    `    user: ${opts.token === undefined ? '{}' : `{ token: ${opts.token} }`}`,
    'contexts:',
    '  - name: test',
    '    context: { cluster: test, user: oomwatch }',
    'current-context: test',
    '',
  ];
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

/** A copy of a fixture pod placed on `node` with the given uid and container ids (by container name). */
export function podFixture(
  name: string,
  opts: { node?: string; uid?: string; ids?: Record<string, string>; runtime?: string } = {},
): Json {
  const pod = loadFixture(name);
  if (opts.node !== undefined) pod.spec.nodeName = opts.node;
  if (opts.uid !== undefined) pod.metadata.uid = opts.uid;
  for (const [container, id] of Object.entries(opts.ids ?? {})) {
    const statuses = [...(pod.status.containerStatuses ?? []), ...(pod.status.initContainerStatuses ?? [])];
    const s = statuses.find((c: Json) => c.name === container);
    if (!s) throw new Error(`fixture ${name} has no container ${container}`);
    s.containerID = `${opts.runtime ?? 'containerd'}://${id}`;
  }
  return pod;
}
