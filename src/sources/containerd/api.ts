/**
 * The only containerd API calls oomwatch makes, all read-only: Version, Namespaces.List, Containers.ListStream
 * and Get, Tasks.List, and Events.Subscribe. The containerd source holds this interface, never a client that
 * could create, kill or delete anything.
 *
 * What the calls return is containerd's messages decoded as plain objects (field names as in the .proto
 * files, int64 as strings, bytes as Buffers), unchecked: `metadata.ts` and `events.ts` narrow them.
 */

/** One message of the event stream, its payload decoded when oomwatch knows its type. */
export interface RawEnvelope {
  /** `{ seconds, nanos }` as decoded, or null. */
  timestamp: unknown;
  namespace: string;
  topic: string;
  /** The Any's type URL, e.g. `containerd.events.TaskOOM`. */
  typeUrl: string;
  /** The decoded payload; undefined for types oomwatch does not read (images, snapshots, content...). */
  payload: Record<string, unknown> | undefined;
  /** The payload is of a type oomwatch reads but could not be decoded. */
  undecodable?: boolean;
}

/** Options of one unary call: the namespace it is scoped to, its deadline and a signal that cancels it. */
export interface CallOptions {
  /** Sent as the gRPC metadata `containerd-namespace`; absent for calls that are not scoped. */
  namespace?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface EventSubscription {
  cancel(): void;
}

export interface ReadOnlyContainerdApi {
  /** `containerd.services.version.v1.Version/Version`. */
  version(opts: CallOptions): Promise<{ version: string; revision: string }>;
  /** `containerd.services.namespaces.v1.Namespaces/List`: the response object. */
  listNamespaces(opts: CallOptions): Promise<unknown>;
  /**
   * `containerd.services.containers.v1.Containers/ListStream` (one container per message, so a namespace
   * of thousands of containers never makes one large message): `onContainer` gets each Container object.
   */
  listContainers(
    opts: CallOptions & { namespace: string },
    onContainer: (raw: unknown) => void,
  ): Promise<void>;
  /** `Containers/Get`: the Container object; rejects with gRPC code 5 (NOT_FOUND) when it is gone. */
  getContainer(opts: CallOptions & { namespace: string }, id: string): Promise<unknown>;
  /** `containerd.services.tasks.v1.Tasks/List`: the response object. */
  listTasks(opts: CallOptions & { namespace: string }): Promise<unknown>;
  /**
   * `containerd.services.events.v1.Events/Subscribe` with containerd filters (several are OR'ed). The stream
   * starts now: containerd keeps no history to replay. `onEnd` is called once, with the error that ended it
   * (gRPC code 14 UNAVAILABLE when containerd stops, 1 CANCELLED when cancelled) or undefined when it ended
   * cleanly.
   */
  subscribe(
    filters: readonly string[],
    onEnvelope: (e: RawEnvelope) => void,
    onEnd: (err: unknown) => void,
  ): Promise<EventSubscription>;
  /** Close the connection; the next call opens a new one. */
  close(): void;
}

type GrpcClientModule = typeof import('./grpc-client');

/**
 * The read-only API over containerd's gRPC unix socket. @grpc/grpc-js and protobufjs are loaded on the
 * first call, not at startup, so a daemon without `--containerd-socket` does not carry them.
 */
export function grpcContainerdApi(socketPath: string): ReadOnlyContainerdApi {
  let loading: Promise<GrpcClientModule> | undefined;
  let client: InstanceType<GrpcClientModule['GrpcContainerdClient']> | undefined;
  const get = async (): Promise<ReadOnlyContainerdApi> => {
    const mod = await (loading ??= import('./grpc-client').catch((err: unknown) => {
      loading = undefined; // a failed load is tried again at the source's next reconnect
      throw err;
    }));
    client ??= new mod.GrpcContainerdClient(socketPath);
    return client;
  };
  return {
    version: async (opts) => (await get()).version(opts),
    listNamespaces: async (opts) => (await get()).listNamespaces(opts),
    listContainers: async (opts, onContainer) => (await get()).listContainers(opts, onContainer),
    getContainer: async (opts, id) => (await get()).getContainer(opts, id),
    listTasks: async (opts) => (await get()).listTasks(opts),
    subscribe: async (filters, onEnvelope, onEnd) => (await get()).subscribe(filters, onEnvelope, onEnd),
    close: () => {
      client?.close();
      client = undefined;
    },
  };
}
