import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type CgroupHints,
  type ContainerPath,
  containerFromCgroupPath,
  mayHoldContainers,
} from './container-path';
import { flatString } from '../flat-string';

/**
 * Walk the memory controller's tree and return every container cgroup, keyed by container id.
 *
 * A container's own directory is never descended into (its sub-cgroups are part of it), so the walk reads
 * only the directories that hold containers. A directory's link count is 2 plus its number of
 * sub-directories (cgroupfs keeps it so, like ext4 and tmpfs), so a leaf cgroup such as a system service
 * costs one stat, not a readdir. Directories that vanish during the walk (normal churn) are skipped.
 *
 * With a DiscoveryMemory, a directory is listed again only when it changed: see there. `hints` are what the
 * containerd source knows beyond the path patterns (its namespaces, containers whose spec names their cgroup).
 */
export function discoverContainers(
  memoryRoot: string,
  maxDepth = 8,
  memory?: DiscoveryMemory,
  hints?: CgroupHints,
): Map<string, ContainerPath> {
  const found = new Map<string, ContainerPath>();
  memory?.walkStarting(hints);
  const rootStat = statQuietly(memoryRoot);
  if (rootStat !== undefined) walk(memoryRoot, '', 0, maxDepth, found, memory, rootStat, hints);
  memory?.walkDone();
  return found;
}

/** What a directory name turned out to be: a container's own cgroup, inside one, or neither. */
interface Classified {
  container: ContainerPath | null;
  /** The directory is the container's own cgroup (not a sub-cgroup a process made inside it). */
  own: boolean;
}

/**
 * A sub-directory: its name, and its path relative to the root and absolute (made once per listing); and
 * what its name was classified as, for the classification generation `generation` of the DiscoveryMemory.
 */
interface Subdirectory {
  name: string;
  rel: string;
  abs: string;
  classified?: Classified;
  generation?: number;
}

/** A directory's sub-directories as last listed, and what its stat said then. */
interface Listing {
  ino: number;
  nlink: number;
  mtimeMs: number;
  ctimeMs: number;
  subdirectories: Subdirectory[];
  /** The walk that last went through this directory: listings no walk reaches any more are dropped. */
  walk: number;
}

/**
 * Remembers, between walks, what each directory name under each parent was classified as (so a stable host
 * parses no path a second time) and each walked directory's listing, so that a directory is read again
 * only when it changed: a Kubernetes node has a directory per pod, and listing every one of them on every
 * poll (each holds some thirty cgroup files beside its containers) cost more than reading the containers'
 * memory files.
 *
 * A listing is reused while the directory's inode, link count, mtime and ctime are what they were when it
 * was listed. On cgroupfs (kernfs) only the link count moves when a sub-cgroup is created or removed (its
 * directory times do not), so a container removed and another created in the same pod between two walks
 * leaves the pod's stat unchanged: whoever sees a container's cgroup vanish (the poller, at its read) calls
 * changed(), and the next walk lists that directory again. A walked directory that vanished is noticed by
 * the walk itself (its stat fails) and its parent listed again at once. Every listing is also dropped after
 * `relistAfterMs`, which bounds the delay of any change the rules above do not see.
 */
export class DiscoveryMemory {
  private hints: CgroupHints | undefined;
  private hintsVersion: number | undefined;
  /**
   * Classifications are kept on the listings' Subdirectory objects, valid for this generation; it moves when
   * the hints change. On a stable host a walk then allocates nothing: no map rebuilt, no name parsed.
   */
  private generation = 0;
  private readonly listings = new Map<string, Listing>();
  private walkNumber = 0;
  private readonly changedDirs = new Set<string>();
  private listedAtMs = 0;

  constructor(private readonly relistAfterMs = 60_000) {}

  classify(rel: string, sub: Subdirectory): Classified {
    if (sub.generation !== this.generation || sub.classified === undefined) {
      sub.classified = classifyOnce(rel, sub.name, this.hints);
      sub.generation = this.generation;
    }
    return sub.classified;
  }

  /** The directory holding this cgroup may have changed in a way its stat does not show: list it again. */
  changed(cgroupPath: string): void {
    const slash = cgroupPath.lastIndexOf('/');
    this.changedDirs.add(slash <= 0 ? '' : cgroupPath.slice(0, slash));
  }

  /** Whether changed() was called since the last walk (the poller then walks again within the same poll). */
  get hasChanges(): boolean {
    return this.changedDirs.size > 0;
  }

  /** The sub-directories of `rel` as last listed, when it has not changed since. */
  listing(rel: string, st: fs.Stats): Subdirectory[] | undefined {
    const l = this.listings.get(rel);
    if (
      l === undefined ||
      this.changedDirs.has(rel) ||
      l.ino !== st.ino ||
      l.nlink !== st.nlink ||
      l.mtimeMs !== st.mtimeMs ||
      l.ctimeMs !== st.ctimeMs
    )
      return undefined;
    l.walk = this.walkNumber;
    return l.subdirectories;
  }

  /**
   * A new listing of `rel`, kept and returned: a name listed before keeps its Subdirectory (what it was
   * classified as, so no path is parsed twice, and its paths); a new one's paths are made flat strings, as
   * they are kept as long as the directory is.
   */
  remember(rel: string, st: fs.Stats, listed: Subdirectory[]): Subdirectory[] {
    const before = this.listings.get(rel)?.subdirectories ?? [];
    const known = before.length > 0 ? new Map(before.map((d) => [d.name, d])) : undefined;
    const subdirectories = listed.map(
      (d) => known?.get(d.name) ?? { name: d.name, rel: flatString(d.rel), abs: flatString(d.abs) },
    );
    this.listings.set(rel, {
      ino: st.ino,
      nlink: st.nlink,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      subdirectories,
      walk: this.walkNumber,
    });
    return subdirectories;
  }

  /** A listing turned out stale during the walk (a sub-directory in it is gone): list it now. */
  forget(rel: string): void {
    const l = this.listings.get(rel);
    // Kept for its classifications, but never reused as it is: the walk lists the directory again.
    if (l !== undefined) l.nlink = -1;
  }

  /**
   * Before a walk. When the hints changed (the containerd source learnt a namespace or a container), every name
   * is classified again; the listings stay (they are what the directories hold, whatever it means).
   */
  walkStarting(hints?: CgroupHints): void {
    const version = hints?.version;
    if (hints !== this.hints || version !== this.hintsVersion) this.generation++;
    this.hints = hints;
    this.hintsVersion = version;
    this.walkNumber++;
    const now = Date.now();
    if (now - this.listedAtMs >= this.relistAfterMs) {
      this.listedAtMs = now;
      // Every directory is listed again (their classifications are carried over by name in remember()).
      for (const l of this.listings.values()) l.nlink = -1;
    }
  }

  walkDone(): void {
    // Only the directories of this walk are kept, so churn does not grow the memory.
    this.listings.forEach((l, rel) => {
      if (l.walk !== this.walkNumber) this.listings.delete(rel);
    });
    this.changedDirs.clear();
  }
}

function classifyOnce(rel: string, name: string, hints: CgroupHints | undefined): Classified {
  const childRel = `${rel}/${name}`;
  const container = containerFromCgroupPath(childRel, hints);
  return { container, own: container !== null && container.cgroupPath === childRel };
}

function walk(
  root: string,
  rel: string,
  depth: number,
  maxDepth: number,
  found: Map<string, ContainerPath>,
  memory: DiscoveryMemory | undefined,
  st: fs.Stats,
  hints: CgroupHints | undefined,
): void {
  const cached = memory?.listing(rel, st);
  let subdirectories = cached;
  if (subdirectories === undefined) {
    subdirectories = listSubdirectories(root, rel);
    if (subdirectories === undefined) return; // removed while walking, or unreadable
    if (memory) subdirectories = memory.remember(rel, st, subdirectories);
  }
  for (const sub of subdirectories) {
    const { name, rel: childRel, abs } = sub;
    const { container, own } = memory ? memory.classify(rel, sub) : classifyOnce(rel, name, hints);
    if (container !== null) {
      // A container's sub-cgroups map back to it; keep the shallowest (its own) cgroup.
      if (own && !found.has(container.id)) found.set(container.id, container);
      continue;
    }
    if (depth + 1 >= maxDepth || !mayHoldContainers(name)) continue;
    const childStat = statQuietly(abs);
    if (childStat === undefined) {
      if (cached !== undefined && memory !== undefined) {
        // The listing was stale: something was removed here, and something may have been created with the
        // same link count. List the directory now (containers already found are not added twice).
        memory.forget(rel);
        walk(root, rel, depth, maxDepth, found, memory, st, hints);
        return;
      }
      continue;
    }
    // Exactly 2 links means no sub-directory. Filesystems that do not count directory links (btrfs reports
    // 1, as do some overlay and network filesystems a fixture tree may sit on) say nothing: look inside.
    if (childStat.nlink !== 2) walk(root, childRel, depth + 1, maxDepth, found, memory, childStat, hints);
  }
}

/**
 * The names of a directory's sub-directories, sorted so that containers are listed in the same order on
 * every host, whatever order the filesystem returns entries in (node_exporter does the same): a scrape
 * diff shows changes, not reshuffles.
 */
function listSubdirectories(root: string, rel: string): Subdirectory[] | undefined {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(rel === '' ? root : path.join(root, rel), { withFileTypes: true });
  } catch {
    return undefined; // the poll's error accounting covers containers, not slices
  }
  const names: string[] = [];
  for (const e of entries) if (e.isDirectory()) names.push(e.name);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((name) => {
    const childRel = `${rel}/${name}`;
    return { name, rel: childRel, abs: path.join(root, childRel) };
  });
}

function statQuietly(dir: string): fs.Stats | undefined {
  try {
    return fs.statSync(dir, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES...: nothing to walk there
  }
}
