import type { Runtime } from '../../cgroup/container-path';
import { QuantityError, parseQuantity } from './quantity';

/**
 * What oomwatch needs of a Pod, taken from the API object (k8s.io/api/core/v1 Pod as the list/watch serves
 * it). Pure: a pod in, a view out. Timestamps arrive as strings from a watch stream and as Date objects from
 * the generated client's list, so both are accepted.
 */

export type ContainerKind = 'container' | 'init' | 'ephemeral';

export interface Termination {
  reason: string;
  exitCode: number;
  finishedAtMs?: number;
  /** Full id of the container that terminated, when the kubelet reported it. */
  containerId?: string;
}

export interface PodContainerView {
  name: string;
  kind: ContainerKind;
  /** Ids of the container's current and previous runs (status containerID, lastState.terminated.containerID). */
  ids: string[];
  /** The runtime named by the containerID scheme (containerd://, cri-o://, docker://). */
  runtime?: Runtime;
  restartCount: number;
  /**
   * The terminations the status shows: the current state's (a container that does not restart, or between
   * its exit and its restart) and lastState's (the run before the current one). The same run moves from
   * one to the other on restart: its container id and finish time say it is the same.
   */
  terminations: Termination[];
  requestBytes?: number;
  limitBytes?: number;
}

export interface PodView {
  uid: string;
  namespace: string;
  name: string;
  /** A static pod's kubelet UID (annotation kubernetes.io/config.mirror): the UID in its cgroup name. */
  mirrorOf?: string;
  resourceVersion?: string;
  containers: PodContainerView[];
  /** Quantities that did not parse, for one log line (the series of that field are left out). */
  problems: string[];
}

/** The subset of a Pod's fields read here (names as in the API; the generated V1Pod type fits). */
export interface PodLike {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: {
    containers?: SpecContainer[];
    initContainers?: SpecContainer[];
    ephemeralContainers?: SpecContainer[];
  };
  status?: {
    containerStatuses?: StatusContainer[];
    initContainerStatuses?: StatusContainer[];
    ephemeralContainerStatuses?: StatusContainer[];
  };
}

interface SpecContainer {
  name: string;
  resources?: Resources;
}
interface Resources {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}
interface TerminatedState {
  reason?: string;
  exitCode?: number;
  finishedAt?: string | Date | null;
  containerID?: string;
}
interface StatusContainer {
  name: string;
  containerID?: string;
  restartCount?: number;
  state?: { terminated?: TerminatedState };
  lastState?: { terminated?: TerminatedState };
  /** Resources actually applied (in-place resize, InPlacePodVerticalScaling): preferred over the spec's. */
  resources?: Resources;
}

export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

const RUNTIME_OF_SCHEME: Record<string, Runtime> = {
  containerd: 'containerd',
  'cri-o': 'cri-o',
  docker: 'docker',
};

/**
 * Split a kubelet container id such as `containerd://4d3c...` (the CRI runtime's name, "://", the id) into the
 * id the cgroup path carries and the runtime. Undefined for an empty or malformed id.
 */
export function parseContainerId(text: string | undefined): { id: string; runtime?: Runtime } | undefined {
  if (!text) return undefined;
  const m = /^([a-z0-9.+-]+):\/\/([0-9a-f]{64})$/.exec(text);
  if (!m) return undefined;
  const runtime = RUNTIME_OF_SCHEME[m[1] as string];
  return runtime ? { id: m[2] as string, runtime } : { id: m[2] as string };
}

function timeMs(v: string | Date | null | undefined): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = v instanceof Date ? v.getTime() : Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

function memory(
  resources: Resources | undefined,
  which: 'requests' | 'limits',
  where: string,
  problems: string[],
): number | undefined {
  const text = resources?.[which]?.['memory'];
  if (text === undefined) return undefined;
  try {
    return parseQuantity(text);
  } catch (err) {
    if (err instanceof QuantityError) {
      problems.push(`${where}.resources.${which}.memory: ${err.message}`);
      return undefined;
    }
    throw err;
  }
}

export function podView(pod: PodLike): PodView | undefined {
  const meta = pod.metadata;
  if (!meta?.uid || !meta.name) return undefined;
  const view: PodView = {
    uid: meta.uid,
    namespace: meta.namespace ?? '',
    name: meta.name,
    containers: [],
    problems: [],
  };
  if (meta.resourceVersion) view.resourceVersion = meta.resourceVersion;
  const mirror = meta.annotations?.[MIRROR_ANNOTATION];
  if (mirror) view.mirrorOf = mirror;

  const groups: Array<[ContainerKind, string, SpecContainer[] | undefined, StatusContainer[] | undefined]> = [
    ['container', 'containers', pod.spec?.containers, pod.status?.containerStatuses],
    ['init', 'initContainers', pod.spec?.initContainers, pod.status?.initContainerStatuses],
    [
      'ephemeral',
      'ephemeralContainers',
      pod.spec?.ephemeralContainers,
      pod.status?.ephemeralContainerStatuses,
    ],
  ];
  for (const [kind, field, specs, statuses] of groups) {
    const statusOf = new Map((statuses ?? []).map((s) => [s.name, s]));
    for (const spec of specs ?? []) {
      const status = statusOf.get(spec.name);
      const c: PodContainerView = {
        name: spec.name,
        kind,
        ids: [],
        restartCount: status?.restartCount ?? 0,
        terminations: [],
      };
      for (const raw of [
        status?.containerID,
        status?.state?.terminated?.containerID,
        status?.lastState?.terminated?.containerID,
      ]) {
        const parsed = parseContainerId(raw);
        if (!parsed) continue;
        if (!c.ids.includes(parsed.id)) c.ids.push(parsed.id);
        if (parsed.runtime && c.runtime === undefined) c.runtime = parsed.runtime;
      }
      for (const terminated of [status?.state?.terminated, status?.lastState?.terminated]) {
        if (terminated?.reason === undefined) continue;
        const t: Termination = { reason: terminated.reason, exitCode: terminated.exitCode ?? 0 };
        const finished = timeMs(terminated.finishedAt);
        if (finished !== undefined) t.finishedAtMs = finished;
        const id = parseContainerId(terminated.containerID);
        if (id) t.containerId = id.id;
        c.terminations.push(t);
      }
      const resources = status?.resources ?? spec.resources;
      const where = `${field}[${spec.name}]`;
      const request = memory(resources, 'requests', where, view.problems);
      const limit = memory(resources, 'limits', where, view.problems);
      if (request !== undefined) c.requestBytes = request;
      if (limit !== undefined) c.limitBytes = limit;
      view.containers.push(c);
    }
  }
  return view;
}

/** The container of the pod that ran under this id (current or previous run). */
export function containerById(view: PodView, id: string): PodContainerView | undefined {
  return view.containers.find((c) => c.ids.includes(id));
}

/** The Event field path of a container (`spec.containers{app}`), as the kubelet writes it. */
export function fieldPath(c: PodContainerView): string {
  const field =
    c.kind === 'init' ? 'initContainers' : c.kind === 'ephemeral' ? 'ephemeralContainers' : 'containers';
  return `spec.${field}{${c.name}}`;
}

/**
 * Identifies one run's termination across status updates and relists: the container id of the run and
 * when it finished (a restart moves the same termination from state to lastState; restartCount changes).
 */
export function terminationKey(t: Termination): string {
  return `${t.containerId ?? ''}|${t.finishedAtMs ?? ''}`;
}
