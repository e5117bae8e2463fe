import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Where the memory controller lives under a cgroup root.
 *
 *   v2      <root>/cgroup.controllers lists `memory`; everything is under <root>.
 *   v1      <root>/memory/memory.usage_in_bytes exists.
 *   hybrid  v1 as above, plus a v2 tree at <root>/unified (systemd's hybrid mode). The memory controller
 *           is on v1, but per-cgroup PSI (memory.pressure) only exists in the v2 tree.
 */
export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export interface CgroupLayout {
  mode: CgroupMode;
  /** The root given on the command line. */
  root: string;
  /** Directory whose sub-directories carry the memory controller's files. */
  memoryRoot: string;
  /** Directory of the v2 tree, where memory.pressure lives; absent on pure v1. */
  pressureRoot?: string;
  version: 1 | 2;
}

export class CgroupLayoutError extends Error {}

function readable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function controllersOf(dir: string): string[] | undefined {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.controllers'), 'latin1').trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

/** Detect the cgroup mode under `root`, or throw a CgroupLayoutError that names the problem and the fix. */
export function detectLayout(root: string): CgroupLayout {
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch {
    throw new CgroupLayoutError(
      `cgroup root ${root} does not exist: mount the host's /sys/fs/cgroup there (read-only is enough) or pass --cgroup-root`,
    );
  }
  if (!st.isDirectory())
    throw new CgroupLayoutError(`cgroup root ${root} is not a directory: pass --cgroup-root DIR`);

  const v2Controllers = controllersOf(root);
  if (v2Controllers?.includes('memory')) {
    return { mode: 'v2', root, memoryRoot: root, pressureRoot: root, version: 2 };
  }
  const v1Memory = path.join(root, 'memory');
  if (readable(path.join(v1Memory, 'memory.usage_in_bytes'))) {
    const unified = path.join(root, 'unified');
    if (controllersOf(unified) !== undefined) {
      return { mode: 'hybrid', root, memoryRoot: v1Memory, pressureRoot: unified, version: 1 };
    }
    return { mode: 'v1', root, memoryRoot: v1Memory, version: 1 };
  }
  if (v2Controllers !== undefined) {
    throw new CgroupLayoutError(
      `cgroup root ${root} is a cgroup v2 tree without the memory controller (cgroup.controllers: "${v2Controllers.join(' ')}"): ` +
        `point --cgroup-root at the host's /sys/fs/cgroup, not at a container's own cgroup`,
    );
  }
  throw new CgroupLayoutError(
    `cgroup root ${root} holds no memory controller (neither ${root}/cgroup.controllers listing memory nor ${v1Memory}/memory.usage_in_bytes): ` +
      `mount the host's /sys/fs/cgroup there or pass --cgroup-root`,
  );
}
