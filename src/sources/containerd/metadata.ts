import { cgroupOfOciPath } from '../../cgroup/hints';
import type { ContainerMetadata } from '../../state/labels';
import {
  COMPOSE_PROJECT,
  COMPOSE_SERVICE,
  CRI_CONTAINERD_KIND,
  CRI_CONTAINERD_SANDBOX,
  K8S_CONTAINER,
  K8S_NAMESPACE,
  K8S_POD,
  type LabelAllowList,
  NERDCTL_NAME,
} from '../container-labels';

/**
 * What containerd's Containers, Tasks and Namespaces calls return, narrowed to the fields oomwatch reads, and
 * container metadata in the words of oomwatch's label set. Pure functions: decoded messages in (api.ts), typed
 * values out.
 *
 * A container's `spec` is the whole OCI runtime spec, environment included: only `linux.cgroupsPath` is taken
 * from it, and nothing else of it is kept.
 */

const HEX64 = /^[0-9a-f]{64}$/;

/** One containerd container (api/services/containers/v1 Container), as oomwatch keeps it. */
export interface ContainerdContainer {
  namespace: string;
  id: string;
  /** The image reference it was created from (`docker.io/library/nginx:1.27`); '' when none. */
  image: string;
  labels: Record<string, string>;
  /** The cgroup its spec names (relative to the controller root), when the spec says and runc would accept it. */
  cgroupPath?: string;
}

/** The task states of api/types/task/task.proto's Status enum. */
export type TaskStatus = 'unknown' | 'created' | 'running' | 'stopped' | 'paused' | 'pausing';
const STATUS: readonly TaskStatus[] = ['unknown', 'created', 'running', 'stopped', 'paused', 'pausing'];

/** A container's task (its init process: Tasks/List fills `id` with the container id). */
export interface ContainerdTask {
  namespace: string;
  containerId: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  /** When it exited, in ns since the epoch; undefined while it runs (containerd sends the zero time). */
  exitedAtNano: bigint | undefined;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const r = record(v);
  if (!r) return out;
  for (const [k, val] of Object.entries(r)) if (typeof val === 'string') out[k] = val;
  return out;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * A google.protobuf.Timestamp as decoded (`{ seconds: "1796400506", nanos: 935449038 }`) in ns since the epoch;
 * undefined for the zero time (Go's zero time.Time, `seconds` -62135596800, or an absent message) and for
 * anything that is not a timestamp.
 */
export function timestampNanos(raw: unknown): bigint | undefined {
  const t = record(raw);
  if (!t) return undefined;
  const seconds = t['seconds'];
  const nanos = t['nanos'];
  if (typeof seconds !== 'string' && typeof seconds !== 'number') return undefined;
  if (!/^-?\d+$/.test(String(seconds))) return undefined;
  const s = BigInt(seconds);
  if (s <= 0n) return undefined;
  const n = typeof nanos === 'number' && Number.isInteger(nanos) && nanos >= 0 ? BigInt(nanos) : 0n;
  return s * 1_000_000_000n + n;
}

/**
 * `linux.cgroupsPath` of a container's spec: an Any whose value is the OCI runtime spec as JSON (type URL
 * `types.containerd.io/opencontainers/runtime-spec/1/Spec`). Undefined when absent or unreadable.
 */
export function specCgroupsPath(spec: unknown): string | undefined {
  const any = record(spec);
  const value = any?.['value'];
  if (!(value instanceof Uint8Array) || value.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  const cgroupsPath = record(record(parsed)?.['linux'])?.['cgroupsPath'];
  return typeof cgroupsPath === 'string' && cgroupsPath !== '' ? cgroupsPath : undefined;
}

/** Narrow a decoded Container; undefined when it has no id. */
export function narrowContainer(raw: unknown, namespace: string): ContainerdContainer | undefined {
  const c = record(raw);
  const id = str(c?.['id']);
  if (!c || id === '') return undefined;
  const out: ContainerdContainer = {
    namespace,
    id,
    image: str(c['image']),
    labels: stringRecord(c['labels']),
  };
  const cgroupsPath = specCgroupsPath(c['spec']);
  const cgroupPath = cgroupsPath === undefined ? undefined : cgroupOfOciPath(cgroupsPath);
  if (cgroupPath !== undefined) out.cgroupPath = cgroupPath;
  return out;
}

/** Narrow a Tasks/List response. */
export function narrowTasks(raw: unknown, namespace: string): ContainerdTask[] {
  const tasks = record(raw)?.['tasks'];
  if (!Array.isArray(tasks)) return [];
  const out: ContainerdTask[] = [];
  for (const item of tasks) {
    const t = record(item);
    if (!t) continue;
    // containerd 1.6 leaves container_id empty in Tasks/List and puts the container id in `id`.
    const containerId = str(t['container_id']) || str(t['id']);
    if (containerId === '') continue;
    const status = typeof t['status'] === 'number' ? (STATUS[t['status']] ?? 'unknown') : 'unknown';
    out.push({
      namespace,
      containerId,
      pid: typeof t['pid'] === 'number' ? t['pid'] : 0,
      status,
      exitStatus: typeof t['exit_status'] === 'number' ? t['exit_status'] : 0,
      exitedAtNano: timestampNanos(t['exited_at']),
    });
  }
  return out;
}

/** Narrow a Namespaces/List response to the namespace names. */
export function narrowNamespaces(raw: unknown): string[] {
  const list = record(raw)?.['namespaces'];
  if (!Array.isArray(list)) return [];
  return list.map((n) => str(record(n)?.['name'])).filter((n) => n !== '');
}

/**
 * The container's name: nerdctl's `nerdctl/name` label (`nerdctl run --name web`); for a pod's container
 * (containerd's CRI plugin) the Kubernetes container name; else the id itself when its user chose it
 * (`ctr run IMAGE web`: anything but the 64 hex characters nerdctl and the CRI plugin generate); else none.
 */
export function containerName(id: string, labels: Readonly<Record<string, string>>): string {
  return labels[NERDCTL_NAME] ?? labels[K8S_CONTAINER] ?? (HEX64.test(id) ? '' : id);
}

/** Container metadata from what containerd keeps of a container: its labels, image and id. */
export function metadataFromContainer(c: ContainerdContainer, allow: LabelAllowList): ContainerMetadata {
  const l = c.labels;
  return {
    name: containerName(c.id, l),
    image: c.image,
    // nerdctl compose sets the same two labels Docker Compose does.
    compose_project: l[COMPOSE_PROJECT] ?? '',
    compose_service: l[COMPOSE_SERVICE] ?? '',
    // containerd's CRI plugin: the kubelet's labels of the pod's containers.
    namespace: l[K8S_NAMESPACE] ?? '',
    pod: l[K8S_POD] ?? '',
    container: l[K8S_CONTAINER] ?? '',
    sandbox: l[CRI_CONTAINERD_KIND] === CRI_CONTAINERD_SANDBOX,
    info: allow.pick(l),
    runtime: 'containerd',
  };
}
