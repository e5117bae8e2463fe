import { KERNEL_LINES, type KernelLine, isKernelLine } from './kernels';

/**
 * Which kernel each VM suite boots in `npm test`. Every VM run costs 10 to 15 s of boot and a scenario of
 * 5 to 60 s under software emulation on 2 cores, so the whole matrix runs on 6.1 (Debian's stable kernel,
 * what most hosts run today) and the scenarios whose behaviour moves between kernel generations (the OOM
 * records, memory.events keys, memory.peak, the group kill) run on 5.10 and 6.12 as well: 16 VM runs, about
 * 8 minutes on an idle 2-core machine. The harness's own test (a hung scenario) and the inotify probe run on
 * 6.1 only.
 *
 * OOMWATCH_VM_KERNELS overrides it: `all` runs every suite on every kernel; a comma-separated list of kernel
 * lines (e.g. `5.10,6.12`) runs every suite on those kernels only.
 */
export type VmSuite =
  | 'limit-oom'
  | 'group-kill'
  | 'system-oom'
  | 'removed-cgroup'
  | 'events-watch'
  | 'gauges'
  | 'inotify'
  | 'harness';

const DEFAULT_MATRIX: Readonly<Record<VmSuite, readonly KernelLine[]>> = {
  // The OOM records of a limit OOM, a group kill and a global OOM, memory.events keys (oom_group_kill from
  // 5.17), memory.peak (5.19) and memory.stat keys: these change between the kernel generations.
  'limit-oom': ['5.10', '6.1', '6.12'],
  'group-kill': ['5.10', '6.1', '6.12'],
  'system-oom': ['5.10', '6.1', '6.12'],
  gauges: ['5.10', '6.1', '6.12'],
  // A cgroup removed after its kill and the memory.events watch rest on what the three kernels share (the
  // memory.events file notification exists since 4.x); they pass on 5.10 and 6.12 with
  // OOMWATCH_VM_KERNELS=all, which the default run has no time for.
  'removed-cgroup': ['6.1'],
  'events-watch': ['6.1'],
  inotify: ['6.1'],
  harness: ['6.1'],
};

export function kernelsFor(suite: VmSuite, env = process.env['OOMWATCH_VM_KERNELS']): KernelLine[] {
  const spec = env?.trim();
  if (!spec) return [...DEFAULT_MATRIX[suite]];
  if (spec === 'all') return [...KERNEL_LINES];
  const lines = spec.split(',').map((s) => s.trim());
  const bad = lines.filter((l) => !isKernelLine(l));
  if (bad.length > 0)
    throw new Error(
      `OOMWATCH_VM_KERNELS: unknown kernel line ${bad.join(', ')} (known: ${KERNEL_LINES.join(', ')}, or all)`,
    );
  return lines as KernelLine[];
}
