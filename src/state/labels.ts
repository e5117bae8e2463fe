import { shortId } from '../cgroup/container-path';
import type { RuntimeName } from './oom-kill';

/**
 * The fixed label set carried by every per-container series, in the words Prometheus sees (empty strings
 * where a label does not apply): the one shape a container's identity has in oomwatch, from the runtime
 * sources through the container table and the state database to /metrics, the event log and the CLI.
 */
export interface ContainerLabels {
  /** The 12-hex short id. */
  id: string;
  name: string;
  image: string;
  compose_project: string;
  compose_service: string;
  namespace: string;
  pod: string;
  container: string;
}

/** Every label of the set, in the order series carry them. */
export const LABEL_NAMES: ReadonlyArray<keyof ContainerLabels> = [
  'id',
  'name',
  'image',
  'compose_project',
  'compose_service',
  'namespace',
  'pod',
  'container',
];

/** The labels of a container nothing is known about yet but its id. */
export function emptyLabels(containerId: string): ContainerLabels {
  return {
    id: shortId(containerId),
    name: '',
    image: '',
    compose_project: '',
    compose_service: '',
    namespace: '',
    pod: '',
    container: '',
  };
}

/** The labels a runtime source can tell (every one but the id, which the cgroup path gives). */
export type NamedLabels = Partial<Omit<ContainerLabels, 'id'>>;

/**
 * What a runtime source (Docker, Kubernetes, the state database) knows about a container: the labels it can
 * tell, in the same names, and a few runtime facts. Fields it does not know stay undefined.
 */
export interface ContainerMetadata extends NamedLabels {
  /** Allow-listed extra labels for oomwatch_container_info (container label name -> value). */
  info?: Record<string, string>;
  /** Main process id in the host's pid namespace, while running. */
  pid?: number;
  /** Pod sandbox (pause) container: not a workload, never exported. */
  sandbox?: boolean;
  /** The runtime source that tells this (set by the containerd source: the container gets its TaskOOM counter). */
  runtime?: RuntimeName;
}

/** A label set with what `known` tells filled in (the id always stays `containerId`'s). */
export function labelsOf(containerId: string, known: NamedLabels | undefined): ContainerLabels {
  const labels = emptyLabels(containerId);
  if (known === undefined) return labels;
  for (const k of LABEL_NAMES) {
    if (k === 'id') continue;
    const v = known[k];
    if (v !== undefined) labels[k] = v;
  }
  return labels;
}
