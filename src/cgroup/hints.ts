import type { CgroupHints, Runtime } from './container-path';

/**
 * How long a deleted container's cgroup still names it. The kernel's OOM record can be read after the runtime
 * has already deleted the container (`ctr run --rm`: the task exits, containerd deletes it, and the kmsg reader
 * takes the record at its next wake), and without its path the kill would land in scope="other".
 */
export const DELETED_KEEP_MS = 5 * 60_000;
/** Bound on the deleted containers remembered (a churning host deletes many in five minutes). */
const DELETED_MAX = 4096;

/**
 * The CgroupHints a runtime source fills as it learns its containers (the containerd source: its namespaces,
 * and each container's cgroup from its OCI spec). One instance is shared by discovery and the ledger.
 */
export class RuntimeCgroupHints implements CgroupHints {
  private namespaces: ReadonlySet<string> = new Set();
  private readonly byPath = new Map<string, { id: string; runtime: Runtime }>();
  private readonly pathsOf = new Map<string, readonly string[]>();
  /** Cgroup paths of containers deleted lately, oldest first: path -> who was there and until when. */
  private readonly deleted = new Map<string, { id: string; runtime: Runtime; until: number }>();
  private changes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  get containerdNamespaces(): ReadonlySet<string> {
    return this.namespaces;
  }

  get hasContainerPaths(): boolean {
    return this.byPath.size > 0 || this.deleted.size > 0;
  }

  get version(): number {
    return this.changes;
  }

  containerAt(cgroupPath: string): { id: string; runtime: Runtime } | undefined {
    const live = this.byPath.get(cgroupPath);
    if (live) return live;
    const gone = this.deleted.get(cgroupPath);
    if (!gone) return undefined;
    if (gone.until <= this.now()) {
      this.deleted.delete(cgroupPath);
      return undefined;
    }
    return { id: gone.id, runtime: gone.runtime };
  }

  /** The containerd namespaces the source watches (replacing those it said before). */
  setContainerdNamespaces(names: Iterable<string>): void {
    const next = new Set(names);
    if (next.size === this.namespaces.size && [...next].every((n) => this.namespaces.has(n))) return;
    this.namespaces = next;
    this.changes++;
  }

  /** The cgroups (relative to the controller root) a container's runtime spec names, replacing earlier ones. */
  setContainer(id: string, runtime: Runtime, cgroupPaths: readonly string[]): void {
    const before = this.pathsOf.get(id);
    if (before && before.length === cgroupPaths.length && before.every((p, i) => p === cgroupPaths[i]))
      return;
    this.removeContainer(id);
    for (const p of cgroupPaths) {
      this.byPath.set(p, { id, runtime });
      this.deleted.delete(p);
    }
    this.pathsOf.set(id, [...cgroupPaths]);
    this.changes++;
  }

  removeContainer(id: string): void {
    const paths = this.pathsOf.get(id);
    if (!paths) return;
    for (const p of paths) if (this.byPath.get(p)?.id === id) this.byPath.delete(p);
    this.pathsOf.delete(id);
    this.changes++;
  }

  /**
   * The runtime deleted a container: it is no longer a live container (discovery and relists forget it), but its
   * cgroup keeps naming it for DELETED_KEEP_MS, for the kernel's OOM record that is read after the delete.
   */
  containerDeleted(id: string): void {
    const paths = this.pathsOf.get(id);
    if (!paths) return;
    const now = this.now();
    for (const p of paths) {
      const live = this.byPath.get(p);
      if (live?.id !== id) continue; // another container took the path over
      this.deleted.delete(p); // re-insert at the end: the map stays oldest first
      this.deleted.set(p, { ...live, until: now + DELETED_KEEP_MS });
    }
    for (const [p, e] of this.deleted) {
      if (e.until > now && this.deleted.size <= DELETED_MAX) break;
      this.deleted.delete(p);
    }
    this.removeContainer(id);
  }

  /** Every container with a cgroup here (for tests and the source's relist). */
  containerIds(): IterableIterator<string> {
    return this.pathsOf.keys();
  }
}

/**
 * The cgroup an OCI runtime spec's `linux.cgroupsPath` names, relative to the controller root, as runc (and
 * crun) resolve it:
 *   cgroupfs driver  an absolute path, taken as it is: `/default/web`, `/kubepods/burstable/pod<uid>/<id>`;
 *   systemd driver   `slice:prefix:name`, the unit `<prefix>-<name>.scope` in the slice, whose parents are
 *                    the slice name's dash-separated prefixes (systemd's own nesting):
 *                    `system.slice:nerdctl:<id>` -> `/system.slice/nerdctl-<id>.scope`,
 *                    `kubepods-burstable-pod<uid>.slice:cri-containerd:<id>` ->
 *                    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`.
 * Undefined for what neither driver would accept (a relative path, which runc resolves against its own
 * cgroup, or a malformed slice).
 */
export function cgroupOfOciPath(cgroupsPath: string): string | undefined {
  if (cgroupsPath.startsWith('/')) {
    const clean = cgroupsPath.split('/').filter((s) => s !== '' && s !== '.');
    if (clean.includes('..') || clean.length === 0) return undefined;
    return `/${clean.join('/')}`;
  }
  const parts = cgroupsPath.split(':');
  if (parts.length !== 3) return undefined;
  const [slice, prefix, name] = parts as [string, string, string];
  if (name === '' || name.includes('/')) return undefined;
  const parent = expandSlice(slice === '' ? 'system.slice' : slice);
  if (parent === undefined) return undefined;
  // runc: a name ending in .slice is the unit itself; anything else runs in a scope named after prefix and name.
  const unit = name.endsWith('.slice') ? name : prefix === '' ? `${name}.scope` : `${prefix}-${name}.scope`;
  return `${parent === '/' ? '' : parent}/${unit}`;
}

/** `a-b-c.slice` -> `/a.slice/a-b.slice/a-b-c.slice` (systemd's slice nesting); `-.slice` is the root. */
function expandSlice(slice: string): string | undefined {
  if (!slice.endsWith('.slice') || slice.includes('/')) return undefined;
  if (slice === '-.slice') return '/';
  const base = slice.slice(0, -'.slice'.length);
  const parts = base.split('-');
  if (parts.some((p) => p === '')) return undefined;
  let path = '';
  let name = '';
  for (const p of parts) {
    name = name === '' ? p : `${name}-${p}`;
    path += `/${name}.slice`;
  }
  return path;
}
