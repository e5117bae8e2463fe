import type Docker from 'dockerode';

/**
 * The only Docker Engine API calls oomwatch makes, all read-only: ping, version, container list,
 * container inspect and the event stream, and against Podman its own container list and inspect. The
 * Docker source and the on-call commands (cli/docker.ts) hold this interface, never a full client, so a
 * call that changes anything (create, kill, stop, exec…) cannot be made from either.
 */
export interface ReadOnlyDockerApi {
  /** `GET /_ping`. */
  ping(signal: AbortSignal): Promise<void>;
  /** `GET /version`: the raw body (engine.ts tells Docker from Podman by it). */
  version(signal: AbortSignal): Promise<{ Version?: string; ApiVersion?: string; Components?: unknown }>;
  /** `GET /containers/json?all=1`: the raw entries. */
  listContainers(signal: AbortSignal): Promise<unknown[]>;
  /**
   * `GET /containers/{id}/json` (an id or a name): the raw body, for metadata.ts to narrow. Rejects with
   * `statusCode` 404 when there is no such container.
   */
  inspectContainer(id: string, signal: AbortSignal): Promise<unknown>;
  /**
   * `GET /events?filters={"type":["container"]}&since=…`: the open response, a stream of JSON lines.
   * Aborting `signal` closes it.
   */
  containerEvents(since: string | undefined, signal: AbortSignal): Promise<NodeJS.ReadableStream>;
  /**
   * Podman only, `GET /v<apiVersion>/libpod/containers/json?all=true`: Podman's own list, whose entries say
   * which containers are pods' infra containers (`IsInfra`). Absent from an API that cannot make the call.
   */
  libpodContainers?(apiVersion: string, signal: AbortSignal): Promise<unknown>;
  /** Podman only, `GET /v<apiVersion>/libpod/containers/{id}/json`: rejects with `statusCode` 404 when gone. */
  libpodInspect?(apiVersion: string, id: string, signal: AbortSignal): Promise<unknown>;
}

/** The read-only API over a Docker Engine unix socket, through dockerode. */
export function dockerodeApi(socketPath: string): ReadOnlyDockerApi {
  // dockerode is loaded on the first call, not at startup: it loads gRPC, protobuf and ssh2 with it (for
  // BuildKit sessions and ssh:// hosts, which oomwatch never uses), about 8 MB resident, so a daemon run
  // with --docker-socket none does not carry them, nor does an on-call command that never asks Docker.
  // socketPath is always given, so dockerode never falls back to DOCKER_HOST from the environment.
  // No client-wide timeout: dockerode would apply it to the event stream, which is idle for hours.
  let client: Promise<Docker> | undefined;
  const docker = (): Promise<Docker> =>
    (client ??= import('dockerode').then(
      ({ default: Dockerode }) => new Dockerode({ socketPath }),
      (err: unknown) => {
        client = undefined; // a failed load is tried again at the source's next reconnect
        throw err;
      },
    ));
  return {
    async ping(signal) {
      const d = await docker();
      // The typings omit the options argument dockerode takes on every call (abortSignal among them).
      const ping = d.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
      await ping.call(d, { abortSignal: signal });
    },
    async version(signal) {
      const d = await docker();
      const version = d.version as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
      return (await version.call(d, { abortSignal: signal })) as {
        Version?: string;
        ApiVersion?: string;
        Components?: unknown;
      };
    },
    async listContainers(signal) {
      return (await (await docker()).listContainers({ all: true, abortSignal: signal })) as unknown[];
    },
    async inspectContainer(id, signal) {
      return (await (
        await docker()
      )
        .getContainer(id)
        .inspect({ abortSignal: signal } as Docker.ContainerInspectOptions)) as unknown;
    },
    async containerEvents(since, signal) {
      const opts: Record<string, unknown> = { filters: { type: ['container'] }, abortSignal: signal };
      if (since !== undefined) opts['since'] = since;
      return (await docker()).getEvents(opts as Docker.GetEventsOptions);
    },
    async libpodContainers(apiVersion, signal) {
      return get(await docker(), `/v${apiVersion}/libpod/containers/json?`, { all: true }, signal);
    },
    async libpodInspect(apiVersion, id, signal) {
      return get(
        await docker(),
        `/v${apiVersion}/libpod/containers/${encodeURIComponent(id)}/json?`,
        {},
        signal,
      );
    },
  };
}

/** A GET dockerode has no method for (Podman's libpod endpoints), through its HTTP layer: JSON in, errors as its own. */
function get(d: Docker, path: string, query: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
  const modem = d.modem as unknown as {
    dial(opts: Record<string, unknown>, cb: (err: unknown, data: unknown) => void): void;
  };
  return new Promise((resolve, reject) =>
    modem.dial(
      {
        path,
        method: 'GET',
        options: query,
        abortSignal: signal,
        statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
      },
      (err, data) => (err ? reject(err) : resolve(data)),
    ),
  );
}
