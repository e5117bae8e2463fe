import type { ContainerMetadata } from '../../state/labels';
import { type JvmMemoryFlags, parseJvmMemoryFlags } from './jvm-flags';
import {
  COMPOSE_PROJECT,
  COMPOSE_SERVICE,
  K8S_CONTAINER,
  K8S_DOCKER_TYPE,
  K8S_NAMESPACE,
  K8S_POD,
  K8S_SANDBOX,
  LabelAllowList,
} from '../container-labels';

export { LabelAllowList };

/**
 * Container metadata from the Docker Engine API, in the words of oomwatch's fixed label set. Pure
 * functions over the three places Docker tells us about a container: `GET /containers/json` (list),
 * `GET /containers/{id}/json` (inspect) and the attributes of a create/start event.
 *
 * Only `Names`/`Name`, `Image`/`Config.Image`, `Labels`/`Config.Labels`, `State`, and for the on-call
 * commands `Created`, `RestartCount` and the memory settings of `HostConfig` are ever read. `Config.Env` is
 * read by one function only, jvmMemoryFlagsFromInspect, which keeps JAVA_TOOL_OPTIONS and JAVA_OPTS reduced
 * to their memory flags: environment variables routinely hold secrets and never become labels or metadata.
 * The narrow input types below make that structural, not a matter of care.
 */

/** The fields of one `GET /containers/json` entry oomwatch reads. */
export interface ListedContainer {
  Id: string;
  Names?: string[] | null;
  Image?: string;
  Labels?: Record<string, string> | null;
  /** created, running, paused, restarting, removing, exited, dead */
  State?: string;
}

/** The fields of `GET /containers/{id}/json` oomwatch reads (and nothing else: no Config.Env). */
export interface InspectedContainer {
  Id: string;
  Name?: string;
  Created?: string;
  RestartCount?: number;
  Config?: { Image?: string; Labels?: Record<string, string> | null } | null;
  State?: {
    /** created, running, paused, restarting, removing, exited, dead */
    Status?: string;
    Running?: boolean;
    Pid?: number;
    ExitCode?: number;
    OOMKilled?: boolean;
    StartedAt?: string;
    FinishedAt?: string;
  } | null;
  /** The memory settings of the container's configuration. */
  HostConfig?: {
    Memory?: number;
    MemoryReservation?: number;
    MemorySwap?: number;
    MemorySwappiness?: number | null;
    OomKillDisable?: boolean | null;
  } | null;
}

/** A container name as Docker stores it ("/web") without the leading slash. */
export function containerName(raw: string): string {
  return raw.replace(/^\//, '');
}

/**
 * The container's own name among the list's `Names`: with legacy links Docker also lists aliases such as
 * "/app/db" (container db as seen by app); the own name is the one with a single leading slash.
 */
export function ownName(names: readonly string[] | null | undefined): string | undefined {
  if (!names || names.length === 0) return undefined;
  const own = names.find((n) => n.lastIndexOf('/') === 0) ?? names[0];
  return own === undefined ? undefined : containerName(own);
}

/** Metadata implied by a container's labels: Compose project/service, Kubernetes names, sandbox, info. */
export function metadataFromLabels(
  labels: Readonly<Record<string, string>>,
  allow: LabelAllowList,
): ContainerMetadata {
  const meta: ContainerMetadata = {
    compose_project: labels[COMPOSE_PROJECT] ?? '',
    compose_service: labels[COMPOSE_SERVICE] ?? '',
    namespace: labels[K8S_NAMESPACE] ?? '',
    pod: labels[K8S_POD] ?? '',
    container: labels[K8S_CONTAINER] ?? '',
    sandbox: labels[K8S_DOCKER_TYPE] === K8S_SANDBOX,
    info: allow.pick(labels),
  };
  return meta;
}

export function metadataFromList(entry: ListedContainer, allow: LabelAllowList): ContainerMetadata {
  const meta = metadataFromLabels(entry.Labels ?? {}, allow);
  const name = ownName(entry.Names);
  if (name !== undefined) meta.name = name;
  if (entry.Image !== undefined) meta.image = entry.Image;
  return meta;
}

export function metadataFromInspect(c: InspectedContainer, allow: LabelAllowList): ContainerMetadata {
  const meta = metadataFromLabels(c.Config?.Labels ?? {}, allow);
  if (c.Name !== undefined) meta.name = containerName(c.Name);
  if (c.Config?.Image !== undefined) meta.image = c.Config.Image;
  // The pid of a running container (0 once it stopped: then it is not reported at all).
  if (c.State?.Running === true && typeof c.State.Pid === 'number' && c.State.Pid > 0) meta.pid = c.State.Pid;
  return meta;
}

/**
 * Metadata from a create or start event: `name` and `image` are Docker's, every other attribute is a
 * label (LogContainerEventWithAttributes in moby daemon/events.go).
 */
export function metadataFromEvent(
  attributes: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
  allow: LabelAllowList,
): ContainerMetadata {
  const meta = metadataFromLabels(labels, allow);
  if (attributes['name'] !== undefined) meta.name = containerName(attributes['name']);
  if (attributes['image'] !== undefined) meta.image = attributes['image'];
  return meta;
}

/** Narrow a raw inspect body to the fields oomwatch reads, dropping everything else (Env included). */
export function narrowInspect(raw: unknown): InspectedContainer | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r['Id'] !== 'string') return undefined;
  const config = r['Config'] as Record<string, unknown> | null | undefined;
  const state = r['State'] as Record<string, unknown> | null | undefined;
  const host = r['HostConfig'] as Record<string, unknown> | null | undefined;
  const out: InspectedContainer = { Id: r['Id'] };
  if (typeof r['Name'] === 'string') out.Name = r['Name'];
  if (typeof r['Created'] === 'string') out.Created = r['Created'];
  if (typeof r['RestartCount'] === 'number') out.RestartCount = r['RestartCount'];
  if (config && typeof config === 'object') {
    out.Config = {};
    if (typeof config['Image'] === 'string') out.Config.Image = config['Image'];
    out.Config.Labels = stringRecord(config['Labels']);
  }
  if (state && typeof state === 'object') {
    out.State = {};
    if (typeof state['Status'] === 'string') out.State.Status = state['Status'];
    if (typeof state['Running'] === 'boolean') out.State.Running = state['Running'];
    if (typeof state['Pid'] === 'number') out.State.Pid = state['Pid'];
    if (typeof state['ExitCode'] === 'number') out.State.ExitCode = state['ExitCode'];
    if (typeof state['OOMKilled'] === 'boolean') out.State.OOMKilled = state['OOMKilled'];
    if (typeof state['StartedAt'] === 'string') out.State.StartedAt = state['StartedAt'];
    if (typeof state['FinishedAt'] === 'string') out.State.FinishedAt = state['FinishedAt'];
  }
  if (host && typeof host === 'object') {
    out.HostConfig = {};
    for (const k of ['Memory', 'MemoryReservation', 'MemorySwap'] as const)
      if (typeof host[k] === 'number') out.HostConfig[k] = host[k];
    if (typeof host['MemorySwappiness'] === 'number')
      out.HostConfig.MemorySwappiness = host['MemorySwappiness'];
    if (typeof host['OomKillDisable'] === 'boolean') out.HostConfig.OomKillDisable = host['OomKillDisable'];
  }
  return out;
}

/** Docker's memory settings of a container (HostConfig), as `docker run` took them. */
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

/** What Docker says of a container's run and configuration, for the on-call commands (`inspect`, `recommend`). */
export interface DockerRunState {
  /** State.Status: created, running, paused, restarting, removing, exited, dead ('' when not told). */
  state: string;
  running: boolean;
  pid: number;
  oomKilled: boolean;
  exitCode: number;
  createdMs?: number;
  startedAtMs?: number;
  finishedAtMs?: number;
  restartCount: number;
  memory: DockerMemorySettings;
}

export function runStateFromInspect(c: InspectedContainer): DockerRunState {
  const s = c.State ?? {};
  const h = c.HostConfig ?? {};
  const out: DockerRunState = {
    state: s.Status ?? '',
    running: s.Running === true,
    pid: s.Pid ?? 0,
    oomKilled: s.OOMKilled === true,
    exitCode: s.ExitCode ?? 0,
    restartCount: c.RestartCount ?? 0,
    memory: {
      limit: h.Memory ?? 0,
      reservation: h.MemoryReservation ?? 0,
      memorySwap: h.MemorySwap ?? 0,
      swappiness: h.MemorySwappiness ?? null,
      oomKillDisable: h.OomKillDisable === true,
    },
  };
  const created = dockerTime(c.Created);
  if (created !== undefined) out.createdMs = created;
  const started = dockerTime(s.StartedAt);
  if (started !== undefined) out.startedAtMs = started;
  const finished = dockerTime(s.FinishedAt);
  if (finished !== undefined) out.finishedAtMs = finished;
  return out;
}

/** A time Docker wrote, in ms; undefined for "0001-01-01T00:00:00Z", Docker's time that never happened. */
function dockerTime(v: string | undefined): number | undefined {
  const t = v === undefined ? NaN : Date.parse(v);
  return Number.isNaN(t) || t <= 0 ? undefined : t;
}

/**
 * The JVM memory flags in a raw inspect body's JAVA_TOOL_OPTIONS and JAVA_OPTS (the only reader of
 * `Config.Env`): no other variable is looked at, and of these two only the memory flags are returned.
 */
export function jvmMemoryFlagsFromInspect(raw: unknown): JvmMemoryFlags | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const config = (raw as Record<string, unknown>)['Config'];
  if (config === null || typeof config !== 'object') return undefined;
  const env = (config as Record<string, unknown>)['Env'];
  if (!Array.isArray(env)) return undefined;
  const valueOf = (name: string): string | undefined => {
    const entry = env.find((e): e is string => typeof e === 'string' && e.startsWith(`${name}=`));
    return entry?.slice(name.length + 1);
  };
  return parseJvmMemoryFlags([valueOf('JAVA_TOOL_OPTIONS'), valueOf('JAVA_OPTS')]);
}

/** Narrow a raw list entry the same way. */
export function narrowListed(raw: unknown): ListedContainer | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r['Id'] !== 'string') return undefined;
  const out: ListedContainer = { Id: r['Id'], Labels: stringRecord(r['Labels']) };
  if (Array.isArray(r['Names']))
    out.Names = (r['Names'] as unknown[]).filter((n): n is string => typeof n === 'string');
  if (typeof r['Image'] === 'string') out.Image = r['Image'];
  if (typeof r['State'] === 'string') out.State = r['State'];
  return out;
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, val] of Object.entries(v as Record<string, unknown>))
    if (typeof val === 'string') out[k] = val;
  return out;
}
