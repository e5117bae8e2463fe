/**
 * Shared pieces of the cgroup file parsers. Every parser is pure and total: text in, a typed value or a
 * ParseError out, never an exception and never I/O.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const fail = <T = never>(error: string): Parsed<T> => ({ ok: false, error });

/**
 * A byte count where `Infinity` means "no limit".
 *
 * cgroup v1 writes "no limit" as LONG_MAX rounded down to the page size (9223372036854771712 with 4 KiB
 * pages, 9223372036854710272 with 64 KiB pages), v2 writes the word `max`. Both exceed 2^53, so the
 * comparison is made on a BigInt before converting: any value at or above 2^62 is the sentinel (no real
 * machine has 4 EiB of memory).
 */
export type Bytes = number;

const UNLIMITED_FLOOR = 1n << 62n;
const INTEGER = /^-?\d+$/;

/** Quote a line for an error message, short enough for a log line. */
export function quote(text: string): string {
  const oneLine = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(oneLine);
}

/** Parse a non-negative integer that fits a JS number exactly (counters, byte counts). */
export function parseCount(text: string): Parsed<number> {
  const t = text.trim();
  if (!INTEGER.test(t)) return fail(`expected an integer, got ${quote(t)}`);
  const n = Number(t);
  if (n < 0) return fail(`expected a non-negative integer, got ${quote(t)}`);
  if (!Number.isSafeInteger(n)) return ok(Number(BigInt(t))); // rounding above 2^53 is harmless for counters
  return ok(n);
}

/** Parse a byte value that may mean "unlimited" (`max`, or the v1 LONG_MAX sentinel): Infinity. */
export function parseLimit(text: string): Parsed<Bytes> {
  const t = text.trim();
  if (t === 'max') return ok(Infinity);
  if (!INTEGER.test(t)) return fail(`expected a byte count or "max", got ${quote(t)}`);
  const big = BigInt(t);
  if (big >= UNLIMITED_FLOOR) return ok(Infinity);
  // v1 reports -1 for "unlimited" in a few files written by old tooling (e.g. memsw after echo -1).
  if (big < 0n) return big === -1n ? ok(Infinity) : fail(`negative byte count ${quote(t)}`);
  return ok(Number(big));
}

/**
 * Parse a flat "key value" file (memory.stat, memory.events, memory.oom_control) into a map.
 * Keys are kept as written; unknown keys are kept too so a newer kernel never breaks parsing.
 * A line that is not "key integer" is an error naming the line.
 */
export function parseKeyedCounts(text: string): Parsed<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const sp = line.indexOf(' ');
    if (sp <= 0) return fail(`expected "key value", got ${quote(line)}`);
    const key = line.slice(0, sp);
    const raw = line.slice(sp + 1).trim();
    // Values are decimal integers; huge ones (hierarchical_memory_limit when unlimited) exceed 2^53.
    if (!INTEGER.test(raw)) return fail(`expected an integer value for ${key}, got ${quote(line)}`);
    const n = Number(raw);
    out.set(key, Number.isSafeInteger(n) ? n : Number(BigInt(raw)));
  }
  return ok(out);
}
