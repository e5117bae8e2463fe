/**
 * The container labels oomwatch reads names from, as the tools that set them spell them, and the allow-list
 * of labels copied onto oomwatch_container_info. Every runtime source (Docker, containerd) takes them from here.
 */

/**
 * Labels Docker Compose puts on every service container (docker/compose `pkg/api/labels.go`); nerdctl compose
 * and podman-compose set the same two.
 */
export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';
/**
 * Labels the kubelet puts on pod containers: through Docker (dockershim, cri-dockerd) as Docker labels, and
 * through containerd's CRI plugin as containerd container labels (the CRI request's labels).
 */
export const K8S_NAMESPACE = 'io.kubernetes.pod.namespace';
export const K8S_POD = 'io.kubernetes.pod.name';
export const K8S_CONTAINER = 'io.kubernetes.container.name';
export const K8S_DOCKER_TYPE = 'io.kubernetes.docker.type';
/** `io.kubernetes.docker.type` of a pod's sandbox (pause) container: not a workload. */
export const K8S_SANDBOX = 'podsandbox';
/** containerd's CRI plugin: `io.cri-containerd.kind` is `sandbox` (the pause container) or `container`. */
export const CRI_CONTAINERD_KIND = 'io.cri-containerd.kind';
export const CRI_CONTAINERD_SANDBOX = 'sandbox';
/** nerdctl's label holding the name given with `nerdctl run --name` (nerdctl `pkg/labels`). */
export const NERDCTL_NAME = 'nerdctl/name';

/** The allow-list of `--label-allow`: container labels copied onto oomwatch_container_info. */
export class LabelAllowList {
  private readonly names: ReadonlySet<string>;

  constructor(names: readonly string[]) {
    this.names = new Set(names);
  }

  /** The allowed labels a container has (an empty object when none). */
  pick(labels: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.names.size === 0) return out;
    for (const name of this.names) {
      const v = labels[name];
      if (v !== undefined) out[name] = v;
    }
    return out;
  }
}
