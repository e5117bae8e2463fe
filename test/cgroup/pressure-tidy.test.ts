import { type Pressure, parsePressure, pressureInBytes } from '../../src/cgroup/pressure';

/**
 * parsePressure reads the kernel's own layout of memory.pressure without a regular expression (it runs for
 * every container on every poll) and everything else line by line. Whatever the text, the result must be
 * what the plain reading gives: each figure as Number() reads it. The plain reading is written out here as
 * the reference, on the format kernel/sched/psi.c psi_show() prints:
 *   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 */
const LINE = /^(some|full) avg10=(\d+\.\d+) avg60=(\d+\.\d+) avg300=(\d+\.\d+) total=(\d+)$/;

function reference(text: string): unknown {
  const out: Record<string, unknown> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) return 'error';
    out[m[1] as string] = {
      avg10: Number(m[2]),
      avg60: Number(m[3]),
      avg300: Number(m[4]),
      totalMicroseconds: Number(m[5]),
    };
  }
  return out['some'] === undefined ? 'error' : out;
}

const KERNEL = (some: string, full: string): string =>
  `some avg10=${some} avg60=${some} avg300=${some} total=123456\nfull avg10=${full} avg60=${full} avg300=${full} total=7890\n`;

describe('parsePressure reads every figure as Number() does', () => {
  it.each([
    ['all zero', KERNEL('0.00', '0.00')],
    ['fractions that are not exact in binary', KERNEL('12.34', '0.10')],
    ['large averages', KERNEL('99.99', '100.00')],
    [
      'every hundredth',
      Array.from({ length: 100 }, (_, i) => KERNEL(`${i % 10}.${String(i).padStart(2, '0')}`, '1.01')).join(
        '',
      ),
    ],
    [
      'a huge total',
      'some avg10=0.00 avg60=0.00 avg300=0.00 total=123456789012345678\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n',
    ],
    ['no full line (cpu on old kernels)', 'some avg10=1.50 avg60=0.25 avg300=0.01 total=42\n'],
    [
      'full first',
      'full avg10=0.00 avg60=0.00 avg300=0.00 total=1\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=2\n',
    ],
    [
      'no final newline',
      'some avg10=0.00 avg60=0.00 avg300=0.00 total=2\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1',
    ],
    ['an empty line at the end', `${KERNEL('0.50', '0.25')}\n`],
    ['more decimals', 'some avg10=1.123 avg60=0.5 avg300=0.000001 total=2\n'],
    ['a missing some line', 'full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n'],
    ['a total with a fraction', 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1.5\n'],
    ['an average without a fraction', 'some avg10=1 avg60=0.00 avg300=0.00 total=1\n'],
    ['a field missing', 'some avg10=0.00 avg300=0.00 total=1\n'],
    ['an unknown line', `${KERNEL('0.00', '0.00')}half avg10=0.00 avg60=0.00 avg300=0.00 total=1\n`],
    ['a carriage return', 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\r\n'],
    ['empty', ''],
  ])('%s', (_what, text) => {
    const r = parsePressure(text);
    const expected = reference(text);
    if (expected === 'error') expect(r.ok).toBe(false);
    else expect(r).toEqual({ ok: true, value: expected });
  });
});

describe('pressureInBytes into a kept Pressure (what the poller does at each poll)', () => {
  const bytes = (t: string): Buffer => Buffer.from(t, 'latin1');

  it('rewrites the same objects with what a fresh parse gives', () => {
    const first = pressureInBytes(
      bytes(KERNEL('1.00', '0.50')),
      bytes(KERNEL('1.00', '0.50')).length,
    ) as Pressure;
    const some = first.some;
    const full = first.full;
    const text = KERNEL('12.34', '0.10');
    const again = pressureInBytes(bytes(text), text.length, first);
    expect(again).toBe(first);
    expect(first.some).toBe(some);
    expect(first.full).toBe(full);
    expect(first).toEqual(reference(text));
  });

  it('drops the full line a file no longer has, and adds one it gains', () => {
    const some = 'some avg10=1.50 avg60=0.25 avg300=0.01 total=42\n';
    const p = pressureInBytes(bytes(KERNEL('0.00', '0.00')), KERNEL('0.00', '0.00').length) as Pressure;
    pressureInBytes(bytes(some), some.length, p);
    expect(p).toEqual(reference(some));
    expect('full' in p).toBe(false);
    pressureInBytes(bytes(KERNEL('2.00', '1.00')), KERNEL('2.00', '1.00').length, p);
    expect(p).toEqual(reference(KERNEL('2.00', '1.00')));
  });

  it('reads only `length` bytes of a larger buffer', () => {
    const text = KERNEL('3.00', '1.00');
    const buf = Buffer.alloc(4096, 0x41);
    buf.write(text, 'latin1');
    expect(pressureInBytes(buf, text.length)).toEqual(reference(text));
  });
});
