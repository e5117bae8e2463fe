import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerPath } from '../cgroup/container-path';
import { discoverContainers } from '../cgroup/discover';
import type { CgroupLayout } from '../cgroup/layout';
import { CgroupReader, FdBudget } from '../cgroup/reader';
import type { MemorySample, SampleError } from '../cgroup/sample';
import { OomwatchError } from '../errors';

/**
 * Reading the host directly, with no daemon: container cgroups through the daemon's own discovery and
 * CgroupReader (so the CLI and /metrics agree on every number), and the host's memory from /proc/meminfo.
 */

/** Every container cgroup on the host, by full id. */
export function discover(layout: CgroupLayout): Map<string, ContainerPath> {
  return discoverContainers(layout.memoryRoot);
}

export interface CgroupReading {
  sample: MemorySample;
  errors: SampleError[];
  /** Directory of the container's memory cgroup. */
  dir: string;
  /** v1 memory.swappiness (0 turns swap off for the cgroup), when readable. */
  swappiness?: number;
}

/**
 * One reading of a container's cgroup; undefined when it is gone. A file the user may not read is an error
 * that names the fix (every other problem degrades that one value, as in the daemon).
 */
export function readCgroup(layout: CgroupLayout, cgroupPath: string): CgroupReading | undefined {
  const reader = new CgroupReader(layout, cgroupPath, new FdBudget(0));
  try {
    const r = reader.read();
    if (r.vanished) return undefined;
    const denied = r.errors.find((e) => /EACCES|EPERM/.test(e.message));
    if (denied) {
      throw new OomwatchError(
        'OOMW_PERMISSION',
        `oomwatch: ${denied.message}: permission denied. Run as root; in a container, mount the host's /sys/fs/cgroup read-only at /host/sys/fs/cgroup`,
      );
    }
    const out: CgroupReading = { sample: r.sample, errors: r.errors, dir: reader.memoryDir };
    if (layout.version === 1) {
      try {
        const n = Number(fs.readFileSync(path.join(reader.memoryDir, 'memory.swappiness'), 'latin1').trim());
        if (Number.isInteger(n)) out.swappiness = n;
      } catch {
        // absent on some kernels; the swap verdict then rests on the limits alone
      }
    }
    return out;
  } finally {
    reader.close();
  }
}

/** A reader kept across refreshes (`top`), closed by the caller. */
export function keptReader(layout: CgroupLayout, cgroupPath: string, budget: FdBudget): CgroupReader {
  return new CgroupReader(layout, cgroupPath, budget);
}

export interface HostMemory {
  memTotalBytes: number;
  swapTotalBytes: number;
}

/**
 * /proc/meminfo, the two lines that matter here:
 *   MemTotal:       24684084 kB
 *   SwapTotal:             0 kB
 * Values are in KiB whatever the unit says.
 */
export function parseMeminfo(text: string): HostMemory | undefined {
  const get = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const memTotalBytes = get('MemTotal');
  if (memTotalBytes === undefined) return undefined;
  return { memTotalBytes, swapTotalBytes: get('SwapTotal') ?? 0 };
}

export function hostMemory(procRoot: string): HostMemory | undefined {
  try {
    return parseMeminfo(fs.readFileSync(path.join(procRoot, 'meminfo'), 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * The tightest limit among the container's ancestors (a Kubernetes pod's limit, a --cgroup-parent slice
 * with a limit): a container without a limit of its own is still bounded by it. v1 memory.limit_in_bytes,
 * v2 memory.max, read up to the root of the tree.
 */
export function ancestorLimit(
  layout: CgroupLayout,
  cgroupPath: string,
): { bytes: number; cgroup: string } | undefined {
  const file = layout.version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
  let best: { bytes: number; cgroup: string } | undefined;
  let rel = path.posix.dirname(cgroupPath);
  while (rel !== '/' && rel !== '.' && rel !== '') {
    try {
      const text = fs.readFileSync(path.join(layout.memoryRoot, rel, file), 'latin1').trim();
      const bytes = text === 'max' ? Infinity : Number(text);
      // v1's "no limit" is LONG_MAX rounded to a page: anything past 2^62 is none.
      if (Number.isFinite(bytes) && bytes < 2 ** 62 && (best === undefined || bytes < best.bytes))
        best = { bytes, cgroup: rel };
    } catch {
      // an unreadable ancestor limits nothing we can know of
    }
    rel = path.posix.dirname(rel);
  }
  return best;
}
