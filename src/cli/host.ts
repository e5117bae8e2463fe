import type { CgroupLayout } from '../cgroup/layout';
import { CgroupReader, FdBudget, readFields } from '../cgroup/reader';
import type { MemorySample, SampleError } from '../cgroup/sample';
import { OomwatchError } from '../errors';

/**
 * One container's cgroup as an on-call command reads it: through the daemon's own CgroupReader (so the CLI
 * and /metrics agree on every number), plus memory.swappiness, which no poll reads.
 */

export interface CgroupReading {
  sample: MemorySample;
  errors: SampleError[];
  /** Directory of the container's memory cgroup. */
  dir: string;
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
    // Absent on v2 and on some v1 kernels: the swap verdict then rests on the limits alone.
    const { swappiness } = readFields(layout, cgroupPath, ['swappiness']);
    const sample = swappiness === undefined ? r.sample : { ...r.sample, swappiness };
    return { sample, errors: r.errors, dir: reader.memoryDir };
  } finally {
    reader.close();
  }
}
