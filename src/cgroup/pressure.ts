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
