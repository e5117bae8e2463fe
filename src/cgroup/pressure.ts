import { type Parsed, fail, ok, quote } from './parse';

/**
 * Pressure stall information, memory.pressure (and /proc/pressure/memory):
 *   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 * `total` is cumulative stall time in microseconds. Old kernels (4.20 to 5.1) have no `full` line for cpu;
 * memory always has both, but a missing `full` is tolerated.
 */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  totalMicroseconds: number;
}

export interface Pressure {
  some: PressureLine;
  full?: PressureLine;
}

const LINE = /^(some|full) avg10=(\d+\.\d+) avg60=(\d+\.\d+) avg300=(\d+\.\d+) total=(\d+)$/;

export function parsePressure(text: string): Parsed<Pressure> {
  const bytes = Buffer.from(text, 'utf8');
  const tidy = pressureInBytes(bytes, bytes.length);
  if (tidy !== undefined) return ok(tidy);
  let some: PressureLine | undefined;
  let full: PressureLine | undefined;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const m = LINE.exec(line);
    if (!m) return fail(`expected "some|full avg10=.. avg60=.. avg300=.. total=..", got ${quote(line)}`);
    const value: PressureLine = {
      avg10: Number(m[2]),
      avg60: Number(m[3]),
      avg300: Number(m[4]),
      totalMicroseconds: Number(m[5]),
    };
    if (m[1] === 'some') some = value;
    else full = value;
  }
  if (!some) return fail('pressure file has no "some" line');
  return ok(full ? { some, full } : { some });
}

/**
 * The file exactly as the kernel writes it ("some ..." then "full ...", each ending in a newline), read
 * straight from its bytes: memory.pressure is read for every container on every poll, and a string of it
 * per container was garbage the collector had to sweep at each poll. Anything else returns undefined and
 * goes through the line-by-line parse of parsePressure, which gives the same values or names the problem.
 * Decimals are divided as integers, so each is the double Number() gives.
 *
 * `into`, when given, is filled and returned instead of a new object (its `full` line too, when it has one):
 * the poller keeps one Pressure per container and rewrites it at each poll rather than leaving the old one
 * to the collector. On undefined, `into` may be partly written.
 */
export function pressureInBytes(bytes: Uint8Array, length: number, into?: Pressure): Pressure | undefined {
  if (!startsWith(bytes, length, 0, SOME)) return undefined;
  const some = tidyLine(bytes, length, 4, into?.some);
  if (some === undefined) return undefined;
  let full: PressureLine | undefined;
  if (cursor !== length) {
    if (!startsWith(bytes, length, cursor, FULL)) return undefined;
    full = tidyLine(bytes, length, cursor + 4, into?.full);
    if (full === undefined || cursor !== length) return undefined;
  }
  if (into === undefined) return full === undefined ? { some } : { some, full };
  into.some = some;
  if (full === undefined) delete into.full;
  else into.full = full;
  return into;
}

const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const SOME = ascii('some');
const FULL = ascii('full');
const AVG10 = ascii(' avg10=');
const AVG60 = ascii(' avg60=');
const AVG300 = ascii(' avg300=');
const TOTAL = ascii(' total=');

function startsWith(bytes: Uint8Array, length: number, pos: number, prefix: Uint8Array): boolean {
  if (pos + prefix.length > length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[pos + i] !== prefix[i]) return false;
  return true;
}

/** Where tidyLine and tidyField stopped reading (the parse is synchronous: one cursor is enough). */
let cursor = 0;

function tidyLine(
  bytes: Uint8Array,
  length: number,
  pos: number,
  into: PressureLine | undefined,
): PressureLine | undefined {
  cursor = pos;
  const avg10 = tidyField(bytes, length, AVG10, true);
  if (avg10 === undefined) return undefined;
  const avg60 = tidyField(bytes, length, AVG60, true);
  if (avg60 === undefined) return undefined;
  const avg300 = tidyField(bytes, length, AVG300, true);
  if (avg300 === undefined) return undefined;
  const totalMicroseconds = tidyField(bytes, length, TOTAL, false);
  if (totalMicroseconds === undefined || cursor >= length || bytes[cursor] !== 0x0a) return undefined;
  cursor++;
  if (into === undefined) return { avg10, avg60, avg300, totalMicroseconds };
  into.avg10 = avg10;
  into.avg60 = avg60;
  into.avg300 = avg300;
  into.totalMicroseconds = totalMicroseconds;
  return into;
}

/** `prefix` then d+.d+ (`decimal`) or d+ at the cursor; long numbers are left to Number() on the slow path. */
function tidyField(
  bytes: Uint8Array,
  length: number,
  prefix: Uint8Array,
  decimal: boolean,
): number | undefined {
  if (!startsWith(bytes, length, cursor, prefix)) return undefined;
  let pos = cursor + prefix.length;
  let n = 0;
  let digits = 0;
  let scale = 1;
  let decimals = -1; // digits after the point; -1 before the point is seen
  for (; pos < length; pos++) {
    const c = bytes[pos] as number;
    if (c >= 0x30 && c <= 0x39) {
      n = n * 10 + (c - 0x30);
      digits++;
      if (decimals >= 0) {
        decimals++;
        scale *= 10;
      }
    } else if (c === 0x2e && decimal && decimals < 0 && digits > 0) {
      decimals = 0;
    } else {
      break;
    }
  }
  if ((decimal ? decimals < 1 : digits === 0) || digits > 15) return undefined;
  cursor = pos;
  return decimals > 0 ? n / scale : n;
}
