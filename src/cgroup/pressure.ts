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
  const tidy = tidyPressure(text);
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
 * without a regular expression or split lines: memory.pressure is read for every container on every poll.
 * Anything else returns undefined and goes through the line-by-line parse above, which gives the same
 * values or names the problem. Decimals are divided as integers, so each is the double Number() gives.
 */
function tidyPressure(text: string): Pressure | undefined {
  if (!text.startsWith('some')) return undefined;
  const some = tidyLine(text, 4);
  if (some === undefined) return undefined;
  if (cursor === text.length) return { some };
  if (!text.startsWith('full', cursor)) return undefined;
  const full = tidyLine(text, cursor + 4);
  if (full === undefined || cursor !== text.length) return undefined;
  return { some, full };
}

/** Where tidyLine and tidyField stopped reading (the parse is synchronous: one cursor is enough). */
let cursor = 0;

function tidyLine(text: string, pos: number): PressureLine | undefined {
  cursor = pos;
  const avg10 = tidyField(text, ' avg10=', true);
  if (avg10 === undefined) return undefined;
  const avg60 = tidyField(text, ' avg60=', true);
  if (avg60 === undefined) return undefined;
  const avg300 = tidyField(text, ' avg300=', true);
  if (avg300 === undefined) return undefined;
  const totalMicroseconds = tidyField(text, ' total=', false);
  if (totalMicroseconds === undefined || text.charCodeAt(cursor) !== 0x0a) return undefined;
  cursor++;
  return { avg10, avg60, avg300, totalMicroseconds };
}

/** `prefix` then d+.d+ (`decimal`) or d+ at the cursor; long numbers are left to Number() on the slow path. */
function tidyField(text: string, prefix: string, decimal: boolean): number | undefined {
  if (!text.startsWith(prefix, cursor)) return undefined;
  let pos = cursor + prefix.length;
  let n = 0;
  let digits = 0;
  let scale = 1;
  let decimals = -1; // digits after the point; -1 before the point is seen
  for (;;) {
    const c = text.charCodeAt(pos);
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
    pos++;
  }
  if ((decimal ? decimals < 1 : digits === 0) || digits > 15) return undefined;
  cursor = pos;
  return decimals > 0 ? n / scale : n;
}
