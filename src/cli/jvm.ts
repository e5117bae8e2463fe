import { GiB, KiB, MiB } from './units';

/**
 * The JVM heap flags in a container's JAVA_TOOL_OPTIONS / JAVA_OPTS, and the heap they give under a memory
 * limit. Only the memory flags are kept: the rest of a variable (which may hold -Dpassword=... and the like)
 * is dropped by the parser and never reaches the output.
 *
 * HotSpot reads JAVA_TOOL_OPTIONS before the command line, and launch scripts put JAVA_OPTS on the command
 * line, so JAVA_OPTS comes second and, as on the command line, the last occurrence of a flag wins.
 * How the maximum heap is chosen (HotSpot `Arguments::set_heap_size`, JDK 10+ and 8u191+):
 *   -Xmx / -XX:MaxHeapSize set      that size, whatever else is set;
 *   otherwise                       MaxRAMPercentage (default 25) of the memory the JVM sees: the container
 *                                   limit with UseContainerSupport (the default), the host's memory with
 *                                   -XX:-UseContainerSupport, capped by -XX:MaxRAM; -XX:MaxRAMFraction=N
 *                                   (deprecated) means 100/N percent.
 */
export interface JvmMemoryFlags {
  /** -Xmx or -XX:MaxHeapSize, in bytes. */
  maxHeapBytes?: number;
  maxRamPercentage?: number;
  maxRamFraction?: number;
  maxRamBytes?: number;
  /** false when -XX:-UseContainerSupport: the JVM ignores the cgroup limit. */
  containerSupport: boolean;
  /** The memory flags exactly as written, for the finding's reason (nothing else of the variable). */
  flags: string[];
}

/** A HotSpot size: digits and an optional k, m, g or t (either case); plain digits are bytes. */
export function parseJavaSize(text: string): number | undefined {
  const m = /^(\d+)([kKmMgGtT]?)$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] as string).toLowerCase();
  const factor = unit === 'k' ? KiB : unit === 'm' ? MiB : unit === 'g' ? GiB : unit === 't' ? 1024 * GiB : 1;
  return n * factor;
}

const FLAG_PATTERNS: ReadonlyArray<{ re: RegExp; apply: (f: JvmMemoryFlags, v: string) => boolean }> = [
  { re: /^-Xmx(.+)$/, apply: (f, v) => setSize(f, 'maxHeapBytes', v) },
  { re: /^-XX:MaxHeapSize=(.+)$/, apply: (f, v) => setSize(f, 'maxHeapBytes', v) },
  { re: /^-XX:MaxRAM=(.+)$/, apply: (f, v) => setSize(f, 'maxRamBytes', v) },
  { re: /^-XX:MaxRAMPercentage=(.+)$/, apply: (f, v) => setNumber(f, 'maxRamPercentage', v, 0, 100) },
  { re: /^-XX:MaxRAMFraction=(.+)$/, apply: (f, v) => setNumber(f, 'maxRamFraction', v, 1, Infinity) },
  { re: /^-XX:([+-])UseContainerSupport$/, apply: (f, v) => ((f.containerSupport = v === '+'), true) },
];

function setSize(f: JvmMemoryFlags, key: 'maxHeapBytes' | 'maxRamBytes', v: string): boolean {
  const n = parseJavaSize(v);
  if (n === undefined) return false;
  f[key] = n;
  return true;
}

function setNumber(
  f: JvmMemoryFlags,
  key: 'maxRamPercentage' | 'maxRamFraction',
  v: string,
  min: number,
  max: number,
): boolean {
  if (!/^\d+(\.\d+)?$/.test(v)) return false;
  const n = Number(v);
  if (n < min || n > max) return false;
  f[key] = n;
  return true;
}

/**
 * Parse the memory flags out of the option strings, in the order the JVM reads them (JAVA_TOOL_OPTIONS,
 * then JAVA_OPTS). Returns undefined when none of them sets a memory flag.
 */
export function parseJvmMemoryFlags(
  optionStrings: ReadonlyArray<string | undefined>,
): JvmMemoryFlags | undefined {
  const out: JvmMemoryFlags = { containerSupport: true, flags: [] };
  for (const options of optionStrings) {
    if (options === undefined) continue;
    for (const token of options.split(/\s+/)) {
      for (const { re, apply } of FLAG_PATTERNS) {
        const m = re.exec(token);
        if (m && apply(out, m[1] as string)) {
          out.flags.push(token);
          break;
        }
      }
    }
  }
  return out.flags.length > 0 ? out : undefined;
}

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
