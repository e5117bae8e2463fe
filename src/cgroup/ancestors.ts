import * as path from 'node:path';
import type { CgroupLayout } from './layout';
import { readFields } from './reader';

/**
 * The tightest memory limit among a cgroup's ancestors: a Kubernetes pod's limit, a `--cgroup-parent` slice with
 * a limit. A container without a limit of its own is still bounded by it. Each ancestor's limit file (v1
 * memory.limit_in_bytes, v2 memory.max) is read through the reader's file table, up to the root of the tree;
 * an ancestor whose limit cannot be read limits nothing that can be known.
 */
export function ancestorLimit(
  layout: CgroupLayout,
  cgroupPath: string,
): { bytes: number; cgroup: string } | undefined {
  let best: { bytes: number; cgroup: string } | undefined;
  for (let rel = path.posix.dirname(cgroupPath); !isRoot(rel); rel = path.posix.dirname(rel)) {
    const limit = readFields(layout, rel, ['limit']).limit;
    if (limit !== undefined && Number.isFinite(limit) && (best === undefined || limit < best.bytes))
      best = { bytes: limit, cgroup: rel };
  }
  return best;
}

function isRoot(rel: string): boolean {
  return rel === '/' || rel === '.' || rel === '';
}
