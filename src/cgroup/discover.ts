import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type CgroupHints,
  type ContainerPath,
  containerFromCgroupPath,
  mayHoldContainers,
} from './container-path';

/**
 * Walk the memory controller's tree and return every container cgroup, keyed by container id.
 *
 * A container's own directory is never descended into (its sub-cgroups are part of it), so the walk reads
 * only the directories that hold containers: on a host with thousands of containers this is a few dozen
 * readdir calls. A directory's link count is 2 plus its number of sub-directories (cgroupfs keeps it so, like
 * ext4 and tmpfs), so a leaf cgroup such as a system service costs one stat, not a readdir. Directories that
 * vanish during the walk (normal churn) are skipped. `hints` are what the containerd source knows beyond the
 * path patterns (its namespaces, containers whose spec names their cgroup).
 */
export function discoverContainers(
  memoryRoot: string,
  maxDepth = 8,
  memory?: DiscoveryMemory,
  hints?: CgroupHints,
): Map<string, ContainerPath> {
  const found = new Map<string, ContainerPath>();
  memory?.walkStarts(hints);
  walk(memoryRoot, '', 0, maxDepth, found, memory, hints);
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
 * Remembers, between walks, what each directory name under each parent was classified as: on a host that
 * does not change, a poll then parses no path a second time (with a thousand containers that parsing was
 * a tenth of a poll's CPU). Only the names seen in the latest walk are kept, so churn does not grow it. When
 * the hints change (the containerd source learnt a namespace or a container), everything is classified again.
 */
export class DiscoveryMemory {
  private previous = new Map<string, Map<string, Classified>>();
  private current = new Map<string, Map<string, Classified>>();
  private hints: CgroupHints | undefined;
  private hintsVersion: number | undefined;

  walkStarts(hints: CgroupHints | undefined): void {
    const version = hints?.version;
    if (hints !== this.hints || version !== this.hintsVersion) this.previous = new Map();
    this.hints = hints;
    this.hintsVersion = version;
  }

  classify(rel: string, name: string): Classified {
    const known = this.previous.get(rel)?.get(name) ?? classifyOnce(rel, name, this.hints);
    let dir = this.current.get(rel);
    if (dir === undefined) {
      dir = new Map();
      this.current.set(rel, dir);
    }
    dir.set(name, known);
    return known;
  }

  walkDone(): void {
    this.previous = this.current;
    this.current = new Map();
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
  hints: CgroupHints | undefined,
): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(rel === '' ? root : path.join(root, rel), { withFileTypes: true });
  } catch {
    return; // removed while walking, or unreadable: the poll's error accounting covers containers, not slices
  }
  // Sorted so that containers are listed in the same order on every host, whatever order the filesystem
  // returns entries in (node_exporter does the same): a scrape diff shows changes, not reshuffles.
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const { container, own } = memory
      ? memory.classify(rel, entry.name)
      : classifyOnce(rel, entry.name, hints);
    if (container !== null) {
      // A container's sub-cgroups map back to it; keep the shallowest (its own) cgroup.
      if (own && !found.has(container.id)) found.set(container.id, container);
      continue;
    }
    const childRel = `${rel}/${entry.name}`;
    if (
      depth + 1 < maxDepth &&
      mayHoldContainers(entry.name) &&
      hasSubdirectories(path.join(root, childRel))
    ) {
      walk(root, childRel, depth + 1, maxDepth, found, memory, hints);
    }
  }
}

function hasSubdirectories(dir: string): boolean {
  try {
    // Exactly 2 means no sub-directory. Filesystems that do not count directory links (btrfs reports 1,
    // as do some overlay and network filesystems a fixture tree may sit on) say nothing: look inside.
    return fs.statSync(dir).nlink !== 2;
  } catch {
    return false;
  }
}
