import * as http from 'node:http';
import { type JvmMemoryFlags, parseJvmMemoryFlags } from './jvm';

/**
 * The few read-only Docker Engine API calls the on-call commands make: list every container (running or
 * not) and inspect one. GET only; nothing here can change a container.
 *
 * What comes back is narrowed at once to the fields the commands show (names, image, labels, state, the
 * memory settings of HostConfig). `Config.Env` is read in one place only, `jvmMemoryFlags`, which keeps
 * JAVA_TOOL_OPTIONS and JAVA_OPTS, reduces them to their memory flags and drops everything else.
 */

export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';
export const K8S_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const K8S_POD_LABEL = 'io.kubernetes.pod.name';
export const K8S_CONTAINER_LABEL = 'io.kubernetes.container.name';

export interface DockerContainerSummary {
  id: string;
  name: string;
  image: string;
  /** created, running, paused, restarting, removing, exited, dead */
  state: string;
  labels: Record<string, string>;
}

export interface DockerMemorySettings {
  /** HostConfig.Memory: 0 means no limit. */
  limit: number;
  /** HostConfig.MemoryReservation: 0 means none. */
  reservation: number;
  /** HostConfig.MemorySwap: memory plus swap; -1 unlimited swap, 0 unset (Docker then allows twice the limit). */
  memorySwap: number;
  /** HostConfig.MemorySwappiness: null when not set (the host's vm.swappiness applies). */
  swappiness: number | null;
  oomKillDisable: boolean;
}

export interface DockerContainerDetails extends DockerContainerSummary {
  createdMs?: number;
  running: boolean;
  pid: number;
  oomKilled: boolean;
  exitCode: number;
  startedAtMs?: number;
  finishedAtMs?: number;
  restartCount: number;
  memory: DockerMemorySettings;
}

export class DockerUnavailable extends Error {
  constructor(
    readonly socketPath: string,
    readonly reason: string,
  ) {
    super(`Docker is not reachable at ${socketPath}: ${reason}`);
    this.name = 'DockerUnavailable';
  }
}

const TIMEOUT_MS = 5000;

/** Why a connection to the socket failed, with what to do about it. */
export function describeSocketError(err: NodeJS.ErrnoException, socketPath: string): string {
  switch (err.code) {
    case 'ENOENT':
      return `no socket there: Docker is not running on this host or listens elsewhere (pass --docker-socket PATH; in a container, mount the host's ${socketPath} read-only)`;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: run as root or as a member of the docker group';
    case 'ECONNREFUSED':
      return 'connection refused: the socket exists but no Docker daemon listens on it (start the daemon: systemctl start docker)';
    case 'ETIMEDOUT':
      return `no answer within ${TIMEOUT_MS / 1000} s: the Docker daemon is hung or overloaded`;
    default:
      return `${err.code ?? ''} ${err.message}`.trim();
  }
}

export class DockerClient {
  constructor(readonly socketPath: string) {}

  private get<T>(pathAndQuery: string): Promise<{ status: number; body: T | undefined }> {
    return new Promise((resolve, reject) => {
      const req = http.get(
        { socketPath: this.socketPath, path: pathAndQuery, headers: { host: 'docker' }, timeout: TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                resolve({ status, body: JSON.parse(text) as T });
              } catch {
                reject(
                  new DockerUnavailable(
                    this.socketPath,
                    `answered ${pathAndQuery} with something that is not JSON`,
                  ),
                );
              }
            } else resolve({ status, body: undefined });
          });
          res.on('error', (err: NodeJS.ErrnoException) =>
            reject(new DockerUnavailable(this.socketPath, describeSocketError(err, this.socketPath))),
          );
        },
      );
      req.on('timeout', () => {
        const err = new Error('timeout') as NodeJS.ErrnoException;
        err.code = 'ETIMEDOUT';
        req.destroy(err);
      });
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(new DockerUnavailable(this.socketPath, describeSocketError(err, this.socketPath))),
      );
    });
  }

  /** Every container, running or not (`docker ps -a`). */
  async list(): Promise<DockerContainerSummary[]> {
    const { status, body } = await this.get<unknown[]>('/containers/json?all=1');
    if (status !== 200 || !Array.isArray(body)) {
      throw new DockerUnavailable(this.socketPath, `GET /containers/json answered ${status}`);
    }
    return body.map(narrowSummary).filter((c): c is DockerContainerSummary => c !== undefined);
  }

  /** One container by id or name, or undefined when Docker does not know it. */
  async inspect(idOrName: string): Promise<DockerContainerDetails | undefined> {
    const { status, body } = await this.get<unknown>(`/containers/${encodeURIComponent(idOrName)}/json`);
    if (status === 404) return undefined;
    if (status !== 200)
      throw new DockerUnavailable(this.socketPath, `GET /containers/${idOrName}/json answered ${status}`);
    return narrowDetails(body);
  }

  /**
   * The JVM memory flags in the container's JAVA_TOOL_OPTIONS and JAVA_OPTS, for the jvm-heap finding of
   * `recommend`, and nothing else of its environment: the other variables are never looked at, and of
   * these two only the memory flags leave this function.
   */
  async jvmMemoryFlags(id: string): Promise<JvmMemoryFlags | undefined> {
    const { status, body } = await this.get<{ Config?: { Env?: unknown } }>(
      `/containers/${encodeURIComponent(id)}/json`,
    );
    if (status !== 200 || !body) return undefined;
    const env = body.Config?.Env;
    if (!Array.isArray(env)) return undefined;
    const valueOf = (name: string): string | undefined => {
      const entry = env.find((e): e is string => typeof e === 'string' && e.startsWith(`${name}=`));
      return entry?.slice(name.length + 1);
    };
    return parseJvmMemoryFlags([valueOf('JAVA_TOOL_OPTIONS'), valueOf('JAVA_OPTS')]);
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const labelsOf = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
};
/** Docker writes "0001-01-01T00:00:00Z" for times that never happened. */
const timeOf = (v: unknown): number | undefined => {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) || t <= 0 ? undefined : t;
};

/** The container's own name among `Names` ("/web"; with legacy links also "/app/db", an alias). */
function ownName(names: unknown): string {
  if (!Array.isArray(names)) return '';
  const all = names.filter((n): n is string => typeof n === 'string');
  const own = all.find((n) => n.lastIndexOf('/') === 0) ?? all[0] ?? '';
  return own.replace(/^\//, '');
}

function narrowSummary(raw: unknown): DockerContainerSummary | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  const id = str(r['Id']);
  if (!/^[0-9a-f]{64}$/.test(id)) return undefined;
  return {
    id,
    name: ownName(r['Names']),
    image: str(r['Image']),
    state: str(r['State']),
    labels: labelsOf(r['Labels']),
  };
}

function narrowDetails(raw: unknown): DockerContainerDetails | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, Record<string, unknown> | unknown>;
  const id = str(r['Id']);
  if (!/^[0-9a-f]{64}$/.test(id)) return undefined;
  const config = (r['Config'] ?? {}) as Record<string, unknown>;
  const state = (r['State'] ?? {}) as Record<string, unknown>;
  const host = (r['HostConfig'] ?? {}) as Record<string, unknown>;
  const out: DockerContainerDetails = {
    id,
    name: str(r['Name']).replace(/^\//, ''),
    image: str(config['Image']),
    labels: labelsOf(config['Labels']),
    state: str(state['Status']),
    running: state['Running'] === true,
    pid: num(state['Pid']),
    oomKilled: state['OOMKilled'] === true,
    exitCode: num(state['ExitCode']),
    restartCount: num(r['RestartCount']),
    memory: {
      limit: num(host['Memory']),
      reservation: num(host['MemoryReservation']),
      memorySwap: num(host['MemorySwap']),
      swappiness: typeof host['MemorySwappiness'] === 'number' ? host['MemorySwappiness'] : null,
      oomKillDisable: host['OomKillDisable'] === true,
    },
  };
  const created = timeOf(r['Created']);
  if (created !== undefined) out.createdMs = created;
  const started = timeOf(state['StartedAt']);
  if (started !== undefined) out.startedAtMs = started;
  const finished = timeOf(state['FinishedAt']);
  if (finished !== undefined) out.finishedAtMs = finished;
  return out;
}
