import type { JvmMemoryFlags } from '../sources/docker/jvm-flags';
import { MiB } from './units';

/**
 * The heap a JVM takes under a memory limit, from its memory flags (sources/docker/jvm-flags.ts).
 * How the maximum heap is chosen (HotSpot `Arguments::set_heap_size`, JDK 10+ and 8u191+):
 *   -Xmx / -XX:MaxHeapSize set      that size, whatever else is set;
 *   otherwise                       MaxRAMPercentage (default 25) of the memory the JVM sees: the container
 *                                   limit with UseContainerSupport (the default), the host's memory with
 *                                   -XX:-UseContainerSupport, capped by -XX:MaxRAM; -XX:MaxRAMFraction=N
 *                                   (deprecated) means 100/N percent.
 */

export interface JvmHeap {
  bytes: number;
  /** How it was derived, e.g. "-Xmx900m" or "MaxRAMPercentage 90% of the 1 GiB limit". */
  from: 'max-heap' | 'percentage-of-limit' | 'percentage-of-host';
}

/** The JVM's maximum heap under a limit (Infinity: no limit) on a host with `hostBytes` of memory. */
export function jvmMaxHeap(flags: JvmMemoryFlags, limitBytes: number, hostBytes: number): JvmHeap {
  if (flags.maxHeapBytes !== undefined) return { bytes: flags.maxHeapBytes, from: 'max-heap' };
  const seesLimit = flags.containerSupport && Number.isFinite(limitBytes);
  let physical = seesLimit ? limitBytes : hostBytes;
  if (flags.maxRamBytes !== undefined) physical = Math.min(physical, flags.maxRamBytes);
  const pct =
    flags.maxRamPercentage ?? (flags.maxRamFraction !== undefined ? 100 / flags.maxRamFraction : 25);
  return {
    bytes: Math.floor((physical * pct) / 100),
    from: seesLimit ? 'percentage-of-limit' : 'percentage-of-host',
  };
}

/**
 * The share of the limit the heap may take and still leave the JVM room for what is not heap: metaspace,
 * the code cache, thread stacks, GC structures and direct buffers. 75% is the usual ceiling for
 * MaxRAMPercentage; below 256 MiB of limit the non-heap floor (JIT, class data) dominates, hence a minimum.
 */
export const JVM_HEAP_SHARE = 0.75;
export const JVM_MIN_NON_HEAP = 64 * MiB;

/** The smallest limit under which a heap of `heapBytes` leaves the JVM enough room. */
export function limitForHeap(heapBytes: number): number {
  return Math.max(heapBytes / JVM_HEAP_SHARE, heapBytes + JVM_MIN_NON_HEAP);
}
