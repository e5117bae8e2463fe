import { Writable } from 'node:stream';
import { isoUtc } from '../src/iso-time';
import { createLogger } from '../src/log';

/** The log line's timestamp: the same text Date.prototype.toISOString gives, made without Date. */
describe('isoUtc', () => {
  it.each([
    [0, '1970-01-01T00:00:00.000Z'],
    [-1, '1969-12-31T23:59:59.999Z'],
    [951_782_400_000, '2000-02-29T00:00:00.000Z'], // a leap day of a year divisible by 400
    [951_868_800_000, '2000-03-01T00:00:00.000Z'],
    [1_709_164_800_000, '2024-02-29T00:00:00.000Z'],
    [1_709_251_199_999, '2024-02-29T23:59:59.999Z'],
    [-2_203_891_200_000, '1900-03-01T00:00:00.000Z'], // 1900 has no leap day
    [1_796_512_200_123, '2026-12-05T23:10:00.123Z'],
    [4_107_542_400_000, '2100-03-01T00:00:00.000Z'],
    [253_402_300_799_999, '9999-12-31T23:59:59.999Z'],
    [-62_167_219_200_000, '0000-01-01T00:00:00.000Z'],
  ])('%d is %s', (ms, text) => {
    expect(isoUtc(ms)).toBe(text);
    expect(new Date(ms).toISOString()).toBe(text); // the table itself is right
  });

  it('agrees with toISOString on every day boundary and on random instants from year 0 to 9999', () => {
    const mismatches: string[] = [];
    const check = (ms: number): void => {
      const want = new Date(ms).toISOString();
      if (isoUtc(ms) !== want) mismatches.push(`${ms}: ${isoUtc(ms)} instead of ${want}`);
    };
    for (let day = -3000; day < 3000; day++) {
      check(day * 86_400_000);
      check(day * 86_400_000 - 1);
    }
    let seed = 12345;
    for (let i = 0; i < 100_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      check(-62_167_219_200_000 + Math.floor((seed / 2_147_483_648) * 315_537_897_599_999));
    }
    expect(mismatches).toEqual([]);
  });
});

describe('createLogger', () => {
  it('writes a JSON line with the ISO time, the level name and the service', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done): void {
        lines.push(chunk.toString());
        done();
      },
    });
    const before = Date.now();
    createLogger('info', sink).info({ module: 'test' }, 'hello');
    const after = Date.now();
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', service: 'oomwatch', module: 'test', msg: 'hello' });
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const t = Date.parse(line.time as string);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
  });
});
