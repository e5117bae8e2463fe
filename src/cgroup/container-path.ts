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
 *   Kubernetes, systemd driver  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
 *                                   cri-containerd-<64hex>.scope | crio-<64hex>.scope | docker-<64hex>.scope
 *                               Guaranteed pods: /kubepods.slice/kubepods-pod<uid_>.slice/...
 *   Kubernetes, cgroupfs driver /kubepods/burstable/pod<uid>/<64hex>  (Guaranteed: /kubepods/pod<uid>/<64hex>)
 *                               CRI-O with cgroupfs: /kubepods/besteffort/pod<uid>/crio-<64hex>
 * A path below a container's own cgroup (a process that made a sub-cgroup) belongs to that container.
 */

export type Runtime = 'docker' | 'podman' | 'containerd' | 'cri-o';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface ContainerPath {
  /** Full container id (64 hex characters). */
  id: string;
  runtime: Runtime;
  /** The container's own cgroup, relative to the controller root, starting with '/'. */
  cgroupPath: string;
  /** Kubernetes pod UID in its canonical dashed form, when the container belongs to a pod. */
  podUid?: string;
  qos?: QosClass;
}

const HEX64 = /^[0-9a-f]{64}$/;
const SCOPED = /^(docker|libpod|cri-containerd|crio)-([0-9a-f]{64})(?:\.scope)?$/;
const POD_CGROUPFS = /^pod([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f-]{32,36})$/;
const POD_SYSTEMD = /^kubepods(?:-(besteffort|burstable))?-pod([0-9a-f_]{32,36})\.slice$/;

const RUNTIME_OF_PREFIX: Record<string, Runtime> = {
  docker: 'docker',
  libpod: 'podman',
  'cri-containerd': 'containerd',
  crio: 'cri-o',
};

/** Short form used in the `id` label, as `docker ps` shows it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/**
 * Map a cgroup path to the container it belongs to, or null when it is not inside a container
 * (system services, user sessions, pod-level and QoS-level cgroups, conmon scopes).
 */
export function containerFromCgroupPath(path: string): ContainerPath | null {
  const segments = path.split('/').filter((s) => s.length > 0);
  let podUid: string | undefined;
  let qos: QosClass | undefined;
  let inKubepods = false;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const parent = i > 0 ? segments[i - 1] : undefined;

    if (seg === 'kubepods' || seg === 'kubepods.slice') {
      inKubepods = true;
      qos = 'guaranteed'; // until a QoS level says otherwise: Guaranteed pods sit directly under kubepods
      continue;
    }
    if (inKubepods) {
      if (seg === 'burstable' || seg === 'besteffort') {
        qos = seg;
        continue;
      }
      const qm = /^kubepods-(besteffort|burstable)\.slice$/.exec(seg);
      if (qm) {
        qos = qm[1] as QosClass;
        continue;
      }
      const pc = POD_CGROUPFS.exec(seg);
      if (pc) {
        podUid = canonicalPodUid(pc[1] as string);
        continue;
      }
      const ps = POD_SYSTEMD.exec(seg);
      if (ps) {
        podUid = canonicalPodUid((ps[2] as string).replace(/_/g, '-'));
        continue;
      }
    }

    const scoped = SCOPED.exec(seg);
    if (scoped) {
      const prefix = scoped[1] as string;
      return build(scoped[2] as string, RUNTIME_OF_PREFIX[prefix] as Runtime, segments, i, podUid, qos);
    }
    if (HEX64.test(seg)) {
      // Bare ids: Docker's cgroupfs driver (/docker/<id>) and Kubernetes' cgroupfs driver (pod<uid>/<id>).
      if (parent === 'docker') return build(seg, 'docker', segments, i, podUid, qos);
      if (podUid !== undefined) return build(seg, 'containerd', segments, i, podUid, qos);
    }
  }
  return null;
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

/** Pod UIDs are dashed UUIDs; the systemd driver writes them with underscores, some tools without dashes. */
function canonicalPodUid(raw: string): string {
  const hex = raw.replace(/[-_]/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) return raw;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Whether the walker should look inside a directory that is not itself a container. Conmon scopes and
 * the like hold no containers; everything else might (slices nest arbitrarily deep).
 */
export function mayHoldContainers(name: string): boolean {
  return !name.startsWith('libpod-conmon-') && !name.startsWith('crio-conmon-');
}
