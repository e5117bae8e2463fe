/**
 * Which container a cgroup path belongs to, from the path alone. Used by discovery (walking the tree) and by
 * the kernel-log source (mapping `task_memcg=` / `oom_memcg=` to a container), so both agree.
 *
 * Layouts (paths relative to the memory controller's root):
 *   Docker, cgroupfs driver     /docker/<64hex>
 *   Docker, systemd driver      /system.slice/docker-<64hex>.scope
 *   rootless Docker             /user.slice/user-1000.slice/user@1000.service/.../docker-<64hex>.scope
 *   Podman                      /machine.slice/libpod-<64hex>.scope   (libpod-conmon-<id>.scope is not one)
 *                               /libpod_parent/libpod-<64hex>         (cgroupfs driver)
 *                               /libpod_parent/<pod>/libpod-<64hex>   (in a pod; libpod_parent/conmon is not one)
 *   Kubernetes, systemd driver  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
 *                                   cri-containerd-<64hex>.scope | crio-<64hex>.scope | docker-<64hex>.scope
 *                               Guaranteed pods: /kubepods.slice/kubepods-pod<uid_>.slice/...
 *   containerd (nerdctl, ctr)   /<namespace>/<id>                     (cgroupfs driver, containerd's default:
 *                                                                     /default/<64hex>, /k8s.io/<64hex>...)
 *                               /system.slice/nerdctl-<64hex>.scope   (nerdctl, systemd driver)
 *   Kubernetes, cgroupfs driver /kubepods/burstable/pod<uid>/<64hex>  (Guaranteed: /kubepods/pod<uid>/<64hex>)
 *                               CRI-O with cgroupfs: /kubepods/besteffort/pod<uid>/crio-<64hex>
 *                               (crio-conmon-<64hex> beside it is CRI-O's monitor process, not a container)
 *   kubelet --cgroup-root       /kubelet/kubepods/...; systemd: /kubelet.slice/kubelet-kubepods.slice/
 *                                   kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod<uid_>.slice/...
 *                               (kind and other nested setups; systemd slice names carry the parents' prefix)
 * A path below a container's own cgroup (a process that made a sub-cgroup) belongs to that container.
 *
 * containerd's cgroupfs layout names a directory after the namespace: `/default/<64hex>` is always taken for a
 * container (nerdctl's and ctr's default namespace), other namespaces only once the containerd source has
 * reported them (CgroupHints). containerd takes any name as a container id (`ctr run IMAGE web`), so a
 * container such as `/default/web` is not recognised by its name: the containerd source tells its cgroup from
 * the OCI spec's `linux.cgroupsPath` (CgroupHints.containerAt), which also covers a `--cgroup` of the user's.
 *
 * What a path cannot tell (the Kubernetes source adds it from the API when it runs):
 *   - The pod sandbox ("pause" container) has a cgroup in the pod's cgroup just like the workload
 *     containers. Without the API oomwatch exports it like any container of the pod (empty `container`
 *     label, a few hundred KiB of memory); with the API it is the pod's container whose id the pod status
 *     does not list, and it is marked as a sandbox and never exported.
 *   - A bare id under a pod (cgroupfs driver) is containerd's or cri-dockerd's; it is reported as
 *     containerd, and corrected from the pod status' `docker://` container id when the API is available.
 *   - Pod UIDs: API pods have dashed UUIDs; static pods (manifests on the node) have the kubelet's 32-hex
 *     config hash as UID, written as is (their mirror pod in the API carries it in the annotation
 *     kubernetes.io/config.mirror).
 */

export type Runtime = 'docker' | 'podman' | 'containerd' | 'cri-o';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface ContainerPath {
  /** Full container id: 64 hex characters, or the name a containerd user gave (`ctr run IMAGE web`). */
  id: string;
  runtime: Runtime;
  /** The container's own cgroup, relative to the controller root, starting with '/'. */
  cgroupPath: string;
  /** Kubernetes pod UID as the API shows it (dashed; a static pod's 32-hex hash), when in a pod. */
  podUid?: string;
  qos?: QosClass;
}

const HEX64 = /^[0-9a-f]{64}$/;
const SCOPED = /^(docker|libpod|cri-containerd|crio|nerdctl)-([0-9a-f]{64})(?:\.scope)?$/;
const POD_CGROUPFS = /^pod([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;
// systemd slice names repeat their parents' names: kubepods-burstable-pod<uid>.slice, or with a kubelet
// --cgroup-root of /kubelet.slice, kubelet-kubepods-burstable-pod<uid>.slice.
const KUBEPODS_SYSTEMD = /^(?:[a-z0-9_.]+-)?kubepods\.slice$/;
const QOS_SYSTEMD = /^(?:[a-z0-9_.]+-)?kubepods-(besteffort|burstable)\.slice$/;
const POD_SYSTEMD =
  /^(?:[a-z0-9_.]+-)?kubepods(?:-(besteffort|burstable))?-pod([0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}|[0-9a-f]{32})\.slice$/;

const RUNTIME_OF_PREFIX: Record<string, Runtime> = {
  docker: 'docker',
  libpod: 'podman',
  'cri-containerd': 'containerd',
  crio: 'cri-o',
  nerdctl: 'containerd',
};

/** containerd's (and nerdctl's) default namespace: its cgroupfs directory holds containers on any host. */
export const CONTAINERD_DEFAULT_NAMESPACE = 'default';

/**
 * What a runtime source tells about cgroup paths that the path alone cannot (filled by the containerd source,
 * read by discovery and by the ledger when it maps a kernel-log cgroup to a container).
 */
export interface CgroupHints {
  /** containerd namespaces whose cgroupfs directory `/<namespace>` holds containers named by 64-hex ids. */
  readonly containerdNamespaces: ReadonlySet<string>;
  /** Whether containerAt can answer anything (lets the hot path skip building prefixes). */
  readonly hasContainerPaths: boolean;
  /** The container whose runtime spec names this cgroup (a path relative to the controller root, from '/'). */
  containerAt(cgroupPath: string): { id: string; runtime: Runtime } | undefined;
  /** Changes whenever an answer above may have changed (discovery then forgets what it remembered). */
  readonly version: number;
}

/**
 * Short form used in the `id` label: the 12 characters `docker ps` shows of a 64-hex id. An id a containerd
 * user chose (`ctr run IMAGE web-1`) stays whole: cut to 12 characters, `web-frontend-1` and `web-frontend-2`
 * would be one series.
 */
export function shortId(id: string): string {
  return HEX64.test(id) ? id.slice(0, 12) : id;
}

/**
 * Map a cgroup path to the container it belongs to, or null when it is not inside a container
 * (system services, user sessions, pod-level and QoS-level cgroups, conmon scopes). `hints` adds what the
 * containerd source knows: its namespaces' cgroupfs directories, and containers whose cgroup the spec names.
 */
export function containerFromCgroupPath(path: string, hints?: CgroupHints): ContainerPath | null {
  const segments = path.split('/').filter((s) => s.length > 0);
  const found = fromSegments(segments, hints);
  if (found !== null || hints === undefined || !hints.hasContainerPaths) return found;
  // The cgroup a runtime spec named: the container's own, or one below it.
  let prefix = '';
  for (const seg of segments) {
    prefix += `/${seg}`;
    const c = hints.containerAt(prefix);
    if (c) return { id: c.id, runtime: c.runtime, cgroupPath: prefix };
  }
  return null;
}

function fromSegments(segments: string[], hints: CgroupHints | undefined): ContainerPath | null {
  let podUid: string | undefined;
  let qos: QosClass | undefined;
  let inKubepods = false;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const parent = i > 0 ? segments[i - 1] : undefined;

    if (seg === 'kubepods' || KUBEPODS_SYSTEMD.test(seg)) {
      inKubepods = true;
      qos = 'guaranteed'; // until a QoS level says otherwise: Guaranteed pods sit directly under kubepods
      continue;
    }
    if (inKubepods) {
      if (seg === 'burstable' || seg === 'besteffort') {
        qos = seg;
        continue;
      }
      const qm = QOS_SYSTEMD.exec(seg);
      if (qm) {
        qos = qm[1] as QosClass;
        continue;
      }
      const pc = POD_CGROUPFS.exec(seg);
      if (pc) {
        podUid = pc[1] as string; // as the API shows it: a dashed UUID, or a static pod's config hash
        continue;
      }
      const ps = POD_SYSTEMD.exec(seg);
      if (ps) {
        // systemd escapes '-' in a unit name as '_': the UID's dashes come back from underscores.
        podUid = (ps[2] as string).replace(/_/g, '-');
        if (ps[1] !== undefined) qos = ps[1] as QosClass;
        continue;
      }
    }

    const scoped = SCOPED.exec(seg);
    if (scoped) {
      const prefix = scoped[1] as string;
      return build(scoped[2] as string, RUNTIME_OF_PREFIX[prefix] as Runtime, segments, i, podUid, qos);
    }
    if (HEX64.test(seg)) {
      // Bare ids: Docker's cgroupfs driver (/docker/<id>) and Kubernetes' cgroupfs driver (pod<uid>/<id>,
      // containerd or cri-dockerd: the path does not say which), containerd's cgroupfs default
      // (/<namespace>/<id>).
      if (parent === 'docker') return build(seg, 'docker', segments, i, podUid, qos);
      if (podUid !== undefined) return build(seg, 'containerd', segments, i, podUid, qos);
      if (i === 1 && isContainerdNamespace(parent as string, hints))
        return build(seg, 'containerd', segments, i, podUid, qos);
    }
  }
  return null;
}

function isContainerdNamespace(name: string, hints: CgroupHints | undefined): boolean {
  return name === CONTAINERD_DEFAULT_NAMESPACE || (hints?.containerdNamespaces.has(name) ?? false);
}

function build(
  id: string,
  runtime: Runtime,
  segments: string[],
  index: number,
  podUid: string | undefined,
  qos: QosClass | undefined,
): ContainerPath {
  const out: ContainerPath = { id, runtime, cgroupPath: '/' + segments.slice(0, index + 1).join('/') };
  if (podUid !== undefined) {
    out.podUid = podUid;
    if (qos !== undefined) out.qos = qos;
  }
  return out;
}

/**
 * Whether the walker should look inside a directory that is not itself a container. Conmon scopes and
 * the like hold no containers; everything else might (slices nest arbitrarily deep).
 */
export function mayHoldContainers(name: string): boolean {
  return !name.startsWith('libpod-conmon-') && !name.startsWith('crio-conmon-');
}
