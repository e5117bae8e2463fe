/**
 * The container labels oomwatch reads names from, as the tools that set them spell them. Every reader of
 * Docker-API container labels (the Docker source, the on-call commands) takes them from here.
 */

/** Labels Docker Compose puts on every service container (docker/compose `pkg/api/labels.go`). */
export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';
/** Labels the kubelet's Docker integration (dockershim, cri-dockerd) puts on pod containers. */
export const K8S_NAMESPACE = 'io.kubernetes.pod.namespace';
export const K8S_POD = 'io.kubernetes.pod.name';
export const K8S_CONTAINER = 'io.kubernetes.container.name';
export const K8S_DOCKER_TYPE = 'io.kubernetes.docker.type';
/** `io.kubernetes.docker.type` of a pod's sandbox (pause) container: not a workload. */
export const K8S_SANDBOX = 'podsandbox';
