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
  const error = scanKeyedCounts(text, (start, end, value) => out.set(text.slice(start, end), value));
  return error === undefined ? ok(out) : fail(error);
}

/**
 * The values of `keys` in a flat "key value" file, without building a map of every key: memory.stat has
 * 40 to 80 lines and is read for every container on every poll, and the poller needs five of them. Every
 * line is still checked, so a malformed file fails exactly as with parseKeyedCounts. `values[i]` is the
 * value of `keys[i]`, undefined when the file does not have it.
 */
export function pickKeyedCounts(text: string, keys: readonly string[]): Parsed<Array<number | undefined>> {
  const values = new Array<number | undefined>(keys.length).fill(undefined);
  const error = scanKeyedCounts(text, (start, end, value) => {
    const length = end - start;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k] as string;
      if (key.length === length && text.startsWith(key, start)) {
        values[k] = value;
        return;
      }
    }
  });
  return error === undefined ? ok(values) : fail(error);
}

/**
 * pickKeyedCounts on the file's bytes, without making a string of the file: memory.stat is over a kilobyte
 * and is read for every container on every poll, and its text was a third of what a poll allocated. Only
 * files where every line is exactly "key value" (one space, a decimal integer, ASCII) are handled; for
 * anything else this returns undefined and the caller parses the text, which gives the same values or the
 * precise error. `keys` are the key names as ASCII bytes. `values`, when given, is filled and returned (a
 * caller that uses the values at once passes the same array every time, and a poll allocates none).
 */
export function pickKeyedCountsInBytes(
  bytes: Buffer,
  length: number,
  keys: readonly Uint8Array[],
  values: Array<number | undefined> = new Array<number | undefined>(keys.length),
): Array<number | undefined> | undefined {
  values.fill(undefined, 0, keys.length);
  let pos = 0;
  while (pos < length) {
    if (bytes[pos] === 0x0a) {
      pos++;
      continue;
    }
    const keyStart = pos;
    for (;;) {
      if (pos >= length) return undefined;
      const c = bytes[pos] as number;
      if (c === 0x20) break;
      if (c <= 0x20 || c >= 0x7f) return undefined; // a control character, a tab, non-ASCII: the text path decides
      pos++;
    }
    const keyEnd = pos;
    if (keyEnd === keyStart) return undefined;
    pos++;
    const negative = bytes[pos] === 0x2d;
    if (negative) pos++;
    const first = pos;
    let n = 0;
    for (; pos < length; pos++) {
      const d = (bytes[pos] as number) - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (pos === first || (pos < length && bytes[pos] !== 0x0a)) return undefined;
    // Up to 15 digits the sum is exact; longer numbers are rounded to the nearest double, as Number() does.
    if (pos - first > 15) n = Number(bytes.toString('latin1', first, pos));
    const keyLength = keyEnd - keyStart;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k] as Uint8Array;
      if (key.length !== keyLength) continue;
      let same = true;
      for (let j = 0; j < keyLength; j++) {
        if (key[j] !== bytes[keyStart + j]) {
          same = false;
          break;
        }
      }
      if (same) {
        values[k] = negative ? -n : n;
        break;
      }
    }
    pos++;
  }
  return values;
}

/**
 * Walk "key value" lines, handing each key's position and its value to `visit`; returns the error for the
 * first malformed line. Works on offsets rather than split lines so that a well-formed file allocates nothing.
 */
function scanKeyedCounts(
  text: string,
  visit: (keyStart: number, keyEnd: number, value: number) => void,
): string | undefined {
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    if (eol === pos) {
      pos++;
      continue;
    }
    const sp = text.indexOf(' ', pos);
    if (sp <= pos || sp >= eol) return `expected "key value", got ${quote(text.slice(pos, eol))}`;
    const value = integerBetween(text, sp + 1, eol);
    // Values are decimal integers; huge ones (hierarchical_memory_limit when unlimited) exceed 2^53.
    if (value === undefined) {
      return `expected an integer value for ${text.slice(pos, sp)}, got ${quote(text.slice(pos, eol))}`;
    }
    visit(pos, sp, value);
    pos = eol + 1;
  }
  return undefined;
}

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;

/** The decimal integer in text[start, end) with surrounding whitespace, or undefined; like INTEGER on the trimmed text. */
function integerBetween(text: string, start: number, end: number): number | undefined {
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  const negative = text.charCodeAt(start) === 0x2d;
  const first = negative ? start + 1 : start;
  if (first >= end) return undefined;
  let n = 0;
  for (let i = first; i < end; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  // Up to 15 digits the sum is exact; longer numbers are rounded to the nearest double by Number().
  if (end - first > 15) n = Number(text.slice(first, end));
  return negative ? -n : n;
}
