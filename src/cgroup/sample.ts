import type { MemoryStat, MemoryStatFigures } from './memory-stat';
import type { Pressure } from './pressure';

/**
 * One reading of a container's memory cgroup. Every field but `usage`/`limit` is optional: a file that
 * is absent on this kernel, or that failed to read or parse, leaves its fields out (and only those).
 * Byte limits use Infinity for "unlimited".
 */
export interface MemorySample {
  /** Wall-clock time of the read, in milliseconds. */
  readAtMs: number;
  usage?: number;
  limit?: number;
  /** Soft limit (v1 memory.soft_limit_in_bytes) or memory.low (v2); Docker's --memory-reservation. */
  reservation?: number;
  /** v2 memory.high: the throttling threshold. */
  high?: number;
  swap?: number;
  /** Limit on swap alone (v2 memory.swap.max; v1 memsw limit minus the memory limit). */
  swapLimit?: number;
  peak?: number;
  /** The memory.stat figures; `raw` (every key) only where a tool kept it: the poller does not. */
  stat?: MemoryStatFigures & { raw?: MemoryStat['raw'] };
  workingSet?: number;
  oomKillDisabled?: boolean;
  underOom?: boolean;
  /** The kernel's own count of processes OOM-killed in this cgroup (v1 oom_control, v2 events oom_kill). */
  oomKills?: number;
  /** Times usage hit the limit: v1 memory.failcnt, v2 memory.events `max`. */
  limitHits?: number;
  /** v2 memory.events `high`: times usage went over memory.high. */
  highEvents?: number;
  /** v2 memory.events `oom`: OOM situations (not kills). */
  oomEvents?: number;
  /** v2 memory.events `oom_group_kill` (5.17+). */
  oomGroupKills?: number;
  /** v2 memory.oom.group: the kernel kills the whole cgroup at once. */
  oomGroup?: boolean;
  pressure?: Pressure;
  /**
   * v1 memory.swappiness (0 turns swap off for the cgroup; v2 has no such file). No poll reads it: the on-call
   * commands read it when they show a container (readFields).
   */
  swappiness?: number;
}

/**
 * Empty `s` for a new reading at `readAtMs`, keeping the object (and its shape): every field a reading sets is
 * made undefined, not deleted, so the poller's samples keep one hidden class. Returns `s`.
 */
export function clearSample(s: MemorySample, readAtMs: number): MemorySample {
  s.readAtMs = readAtMs;
  s.usage = undefined;
  s.limit = undefined;
  s.reservation = undefined;
  s.high = undefined;
  s.swap = undefined;
  s.swapLimit = undefined;
  s.peak = undefined;
  s.stat = undefined;
  s.workingSet = undefined;
  s.oomKillDisabled = undefined;
  s.underOom = undefined;
  s.oomKills = undefined;
  s.limitHits = undefined;
  s.highEvents = undefined;
  s.oomEvents = undefined;
  s.oomGroupKills = undefined;
  s.oomGroup = undefined;
  s.pressure = undefined;
  s.swappiness = undefined;
  return s;
}

export type SampleErrorKind = 'read' | 'parse' | 'missing_file' | 'fd_limit';

export interface SampleError {
  file: string;
  kind: SampleErrorKind;
  message: string;
}
