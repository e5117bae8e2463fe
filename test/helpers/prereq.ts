import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/**
 * Suites that need root, the real kernel, Docker or a Debian tool call `prerequisite(...)` at the top.
 * Outside CI a missing prerequisite skips the suite with a message saying what is missing and how to get
 * it; under CI=true it fails the suite, so a CI machine that lacks something never passes by skipping.
 */
export const IN_CI = process.env['CI'] === 'true' || process.env['CI'] === '1';

export interface Prerequisite {
  ok: boolean;
  /** What is missing and how to get it, when not ok. */
  why: string;
}

export function isRoot(): Prerequisite {
  const ok = typeof process.getuid === 'function' && process.getuid() === 0;
  return { ok, why: 'needs root (memory cgroups, /dev/kmsg): run the suite as root, as .ci/run does' };
}

export function hasCommand(cmd: string, pkg: string): Prerequisite {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
    return { ok: true, why: '' };
  } catch {
    return { ok: false, why: `needs ${cmd}: apt-get install -y ${pkg}` };
  }
}

export function hasV1MemoryCgroup(): Prerequisite {
  const ok = fs.existsSync('/sys/fs/cgroup/memory/memory.usage_in_bytes');
  return {
    ok,
    why: 'needs the cgroup v1 memory controller at /sys/fs/cgroup/memory (this kernel binds memory to v1)',
  };
}

export function hasKmsg(): Prerequisite {
  try {
    fs.accessSync('/dev/kmsg', fs.constants.R_OK);
    return { ok: true, why: '' };
  } catch {
    return { ok: false, why: 'needs a readable /dev/kmsg (root)' };
  }
}

/**
 * Returns `describe` when every prerequisite holds, `describe.skip` outside CI when one does not (after
 * printing why), and under CI a describe whose only test fails with the reason.
 */
export function describeIf(...prereqs: Prerequisite[]): jest.Describe {
  const missing = prereqs.filter((p) => !p.ok).map((p) => p.why);
  if (missing.length === 0) return describe;
  if (IN_CI) {
    const failing = ((name: string) =>
      describe(name, () => {
        it('has its prerequisites (CI=true: a missing prerequisite fails the run)', () => {
          throw new Error(`missing prerequisites: ${missing.join('; ')}`);
        });
      })) as unknown as jest.Describe;
    return failing;
  }
  console.warn(`skipping suite: ${missing.join('; ')}`);
  return describe.skip;
}
