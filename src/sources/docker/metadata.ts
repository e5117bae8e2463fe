import type { ContainerMetadata } from '../../state/labels';
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
 * Only `Names`/`Name`, `Image`/`Config.Image`, `Labels`/`Config.Labels` and `State` are ever read.
 * `Config.Env` is never touched: environment variables routinely hold secrets and never become labels
 * or metadata. The narrow input types below make that structural, not a matter of care.
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
  Config?: { Image?: string; Labels?: Record<string, string> | null } | null;
  State?: {
    Running?: boolean;
    Pid?: number;
    ExitCode?: number;
    OOMKilled?: boolean;
    FinishedAt?: string;
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
  const out: InspectedContainer = { Id: r['Id'] };
  if (typeof r['Name'] === 'string') out.Name = r['Name'];
  if (config && typeof config === 'object') {
    out.Config = {};
    if (typeof config['Image'] === 'string') out.Config.Image = config['Image'];
    out.Config.Labels = stringRecord(config['Labels']);
  }
  if (state && typeof state === 'object') {
    out.State = {};
    if (typeof state['Running'] === 'boolean') out.State.Running = state['Running'];
    if (typeof state['Pid'] === 'number') out.State.Pid = state['Pid'];
    if (typeof state['ExitCode'] === 'number') out.State.ExitCode = state['ExitCode'];
    if (typeof state['OOMKilled'] === 'boolean') out.State.OOMKilled = state['OOMKilled'];
    if (typeof state['FinishedAt'] === 'string') out.State.FinishedAt = state['FinishedAt'];
  }
  return out;
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
