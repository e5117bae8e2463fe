import * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs/light';
import type { CallOptions, EventSubscription, RawEnvelope, ReadOnlyContainerdApi } from './api';
import { EVENT_TYPE_NAMES, messageType } from './proto';

/**
 * containerd's read-only calls over its gRPC unix socket, on @grpc/grpc-js's generic client: each call names
 * its method path and encodes and decodes with the message types of ./proto. Loaded only through
 * `grpcContainerdApi` (api.ts), on first use.
 */

/** The gRPC metadata key containerd scopes a call to a namespace with (containerd's namespaces package). */
const NAMESPACE_HEADER = 'containerd-namespace';

interface Codec {
  encode(value: object): Buffer;
  decode(bytes: Buffer): Record<string, unknown>;
}

/** int64 as strings (a timestamp's seconds), absent fields as their zero values, bytes as Buffers. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, defaults: true };

function codec(name: string): Codec {
  const t = messageType(name);
  return {
    encode: (value) => Buffer.from(t.encode(t.fromObject(value)).finish()),
    decode: (bytes) => t.toObject(t.decode(bytes), TO_OBJECT),
  };
}

const EMPTY = codec('google.protobuf.Empty');
const VERSION = codec('containerd.services.version.v1.VersionResponse');
const LIST_NAMESPACES_REQUEST = codec('containerd.services.namespaces.v1.ListNamespacesRequest');
const LIST_NAMESPACES_RESPONSE = codec('containerd.services.namespaces.v1.ListNamespacesResponse');
const LIST_CONTAINERS_REQUEST = codec('containerd.services.containers.v1.ListContainersRequest');
const LIST_CONTAINERS_RESPONSE = codec('containerd.services.containers.v1.ListContainersResponse');
// ListStream's message is `ListContainerMessage { Container container = 1; }`: the same wire shape as a
// GetContainerResponse, so one declaration decodes both.
const CONTAINER_MESSAGE = codec('containerd.services.containers.v1.GetContainerResponse');
const GET_CONTAINER_REQUEST = codec('containerd.services.containers.v1.GetContainerRequest');
const LIST_TASKS_REQUEST = codec('containerd.services.tasks.v1.ListTasksRequest');
const LIST_TASKS_RESPONSE = codec('containerd.services.tasks.v1.ListTasksResponse');
const SUBSCRIBE_REQUEST = codec('containerd.services.events.v1.SubscribeRequest');
const ENVELOPE = codec('containerd.services.events.v1.Envelope');
const EVENT_PAYLOADS = new Map<string, Codec>(EVENT_TYPE_NAMES.map((n) => [n, codec(n)]));

const METHOD = {
  version: '/containerd.services.version.v1.Version/Version',
  listNamespaces: '/containerd.services.namespaces.v1.Namespaces/List',
  listContainers: '/containerd.services.containers.v1.Containers/List',
  listContainersStream: '/containerd.services.containers.v1.Containers/ListStream',
  getContainer: '/containerd.services.containers.v1.Containers/Get',
  listTasks: '/containerd.services.tasks.v1.Tasks/List',
  subscribe: '/containerd.services.events.v1.Events/Subscribe',
};

/** The payload codec of an Any type URL: containerd sends bare names; a prefixed URL is read by its last part. */
function payloadCodec(typeUrl: string): Codec | undefined {
  return EVENT_PAYLOADS.get(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
}

/** A message decoded as the client decodes it (tests decode captured bytes with it). */
export function decodeMessage(name: string, bytes: Buffer): Record<string, unknown> {
  return codec(name).decode(bytes);
}

/** A decoded Envelope with its payload decoded too, when its type is one oomwatch reads. */
export function rawEnvelope(env: Record<string, unknown>): RawEnvelope {
  const any = env['event'] as { type_url?: string; value?: Buffer } | null;
  const typeUrl = any?.type_url ?? '';
  const payload = any?.value ? payloadCodec(typeUrl) : undefined;
  const out: RawEnvelope = {
    timestamp: env['timestamp'],
    namespace: String(env['namespace'] ?? ''),
    topic: String(env['topic'] ?? ''),
    typeUrl,
    payload: undefined,
  };
  try {
    out.payload = payload?.decode(any?.value as Buffer);
  } catch {
    out.undecodable = true;
  }
  return out;
}

export class GrpcContainerdClient implements ReadOnlyContainerdApi {
  private readonly client: grpc.Client;

  constructor(socketPath: string) {
    this.client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      // The source reconnects on its own schedule (a new client each time); the channel need not retry long.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
      // No service config lookups, no retries of read calls behind the source's back.
      'grpc.service_config_disable_resolution': 1,
      'grpc.enable_retries': 0,
    });
  }

  close(): void {
    this.client.close();
  }

  version(opts: CallOptions): Promise<{ version: string; revision: string }> {
    return this.unary(METHOD.version, EMPTY, VERSION, {}, opts).then((r) => ({
      version: String(r['version']),
      revision: String(r['revision']),
    }));
  }

  listNamespaces(opts: CallOptions): Promise<unknown> {
    return this.unary(METHOD.listNamespaces, LIST_NAMESPACES_REQUEST, LIST_NAMESPACES_RESPONSE, {}, opts);
  }

  async listContainers(
    opts: CallOptions & { namespace: string },
    onContainer: (raw: unknown) => void,
  ): Promise<void> {
    try {
      await this.serverStream(
        METHOD.listContainersStream,
        LIST_CONTAINERS_REQUEST,
        CONTAINER_MESSAGE,
        {},
        opts,
        (m) => onContainer(m['container']),
      );
    } catch (err) {
      // ListStream came in containerd 1.4; an older daemon answers UNIMPLEMENTED: take the one-message list.
      if ((err as { code?: number }).code !== grpc.status.UNIMPLEMENTED) throw err;
      const r = await this.unary(
        METHOD.listContainers,
        LIST_CONTAINERS_REQUEST,
        LIST_CONTAINERS_RESPONSE,
        {},
        opts,
      );
      for (const c of (r['containers'] as unknown[] | undefined) ?? []) onContainer(c);
    }
  }

  async getContainer(opts: CallOptions & { namespace: string }, id: string): Promise<unknown> {
    const r = await this.unary(METHOD.getContainer, GET_CONTAINER_REQUEST, CONTAINER_MESSAGE, { id }, opts);
    return r['container'];
  }

  listTasks(opts: CallOptions & { namespace: string }): Promise<unknown> {
    return this.unary(METHOD.listTasks, LIST_TASKS_REQUEST, LIST_TASKS_RESPONSE, {}, opts);
  }

  async subscribe(
    filters: readonly string[],
    onEnvelope: (e: RawEnvelope) => void,
    onEnd: (err: unknown) => void,
  ): Promise<EventSubscription> {
    // Not scoped to a namespace: the stream carries every namespace's events, each envelope naming its own.
    const call = this.client.makeServerStreamRequest(
      METHOD.subscribe,
      SUBSCRIBE_REQUEST.encode,
      ENVELOPE.decode,
      { filters: [...filters] },
      new grpc.Metadata(),
      {},
    );
    let ended = false;
    const end = (err: unknown): void => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on('data', (env: Record<string, unknown>) => onEnvelope(rawEnvelope(env)));
    // grpc-js emits 'error' for a status other than OK, then 'status' in every case.
    // Every end is reported, a cancel too: the source only awaits a stream it did not cancel itself.
    call.on('error', (err: grpc.ServiceError) => end(err));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) end(undefined);
    });
    return { cancel: () => call.cancel() };
  }

  private metadata(opts: CallOptions): grpc.Metadata {
    const md = new grpc.Metadata();
    if (opts.namespace !== undefined) md.set(NAMESPACE_HEADER, opts.namespace);
    return md;
  }

  private unary(
    method: string,
    req: Codec,
    res: Codec,
    arg: object,
    opts: CallOptions,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const call = this.client.makeUnaryRequest(
        method,
        req.encode,
        res.decode,
        arg,
        this.metadata(opts),
        { deadline: Date.now() + opts.timeoutMs },
        (err, value) => {
          opts.signal?.removeEventListener('abort', cancel);
          if (err) reject(err);
          else resolve(value ?? {});
        },
      );
      const cancel = (): void => call.cancel();
      if (opts.signal?.aborted) call.cancel();
      else opts.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  private serverStream(
    method: string,
    req: Codec,
    res: Codec,
    arg: object,
    opts: CallOptions,
    onMessage: (m: Record<string, unknown>) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = this.client.makeServerStreamRequest(
        method,
        req.encode,
        res.decode,
        arg,
        this.metadata(opts),
        {
          deadline: Date.now() + opts.timeoutMs,
        },
      );
      const cancel = (): void => call.cancel();
      const done = (err?: unknown): void => {
        opts.signal?.removeEventListener('abort', cancel);
        if (err) reject(err);
        else resolve();
      };
      call.on('data', onMessage);
      call.on('error', (err) => done(err));
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) done();
      });
      if (opts.signal?.aborted) call.cancel();
      else opts.signal?.addEventListener('abort', cancel, { once: true });
    });
  }
}
