/**
 * The JVM memory flags in a container's JAVA_TOOL_OPTIONS and JAVA_OPTS, the only part of its environment
 * oomwatch reads (for the jvm-heap finding of `oomwatch recommend`). Only the memory flags are kept: the rest
 * of a variable (which may hold -Dpassword=... and the like) is dropped here and never leaves this module.
 *
 * HotSpot reads JAVA_TOOL_OPTIONS before the command line, and launch scripts put JAVA_OPTS on the command
 * line, so JAVA_OPTS comes second and, as on the command line, the last occurrence of a flag wins.
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
  const factor =
    unit === 'k' ? 2 ** 10 : unit === 'm' ? 2 ** 20 : unit === 'g' ? 2 ** 30 : unit === 't' ? 2 ** 40 : 1;
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
