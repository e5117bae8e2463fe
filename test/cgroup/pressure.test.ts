import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePressure } from '../../src/cgroup/pressure';
import { fixtureId } from '../helpers/fixture-ids';
import { FIXTURES } from '../helpers/paths';

/**
 * Pressure stall information, as kernel/sched/psi.c psi_show() writes it since 4.20:
 *   "%s avg10=%lu.%02lu avg60=%lu.%02lu avg300=%lu.%02lu total=%llu\n" for "some", then "full"
 * (Documentation/accounting/psi.rst). total is in microseconds. The system-wide cpu file had no "full" line
 * before 5.13; memory files always have both, but a file with "some" alone must still parse.
 */
const capturedOom = fs.readFileSync(
  path.join(FIXTURES, 'cgroup', 'hybrid', 'unified', 'docker', fixtureId('oom'), 'memory.pressure'),
  'latin1',
);
const capturedTotal = (kind: string): number =>
  Number(new RegExp(`^${kind} .* total=(\\d+)$`, 'm').exec(capturedOom)?.[1]);

describe('parsePressure', () => {
  it.each([
    [
      'some and full',
      'some avg10=1.53 avg60=0.87 avg300=0.22 total=8912345\nfull avg10=0.90 avg60=0.41 avg300=0.10 total=4105220\n',
      {
        some: { avg10: 1.53, avg60: 0.87, avg300: 0.22, totalMicroseconds: 8912345 },
        full: { avg10: 0.9, avg60: 0.41, avg300: 0.1, totalMicroseconds: 4105220 },
      },
    ],
    [
      'some only (the pre-5.13 cpu format)',
      'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
      { some: { avg10: 0, avg60: 0, avg300: 0, totalMicroseconds: 0 } },
    ],
    [
      'averages of 100% and a total past 2^32',
      'some avg10=100.00 avg60=99.50 avg300=12.00 total=5000000000\nfull avg10=100.00 avg60=99.50 avg300=12.00 total=4999999999\n',
      {
        some: { avg10: 100, avg60: 99.5, avg300: 12, totalMicroseconds: 5000000000 },
        full: { avg10: 100, avg60: 99.5, avg300: 12, totalMicroseconds: 4999999999 },
      },
    ],
    [
      'this machine: the v2 memory.pressure of a container OOM-killed twice',
      capturedOom,
      {
        some: {
          avg10: expect.any(Number),
          avg60: expect.any(Number),
          avg300: expect.any(Number),
          totalMicroseconds: capturedTotal('some'),
        },
        full: {
          avg10: expect.any(Number),
          avg60: expect.any(Number),
          avg300: expect.any(Number),
          totalMicroseconds: capturedTotal('full'),
        },
      },
    ],
  ])('%s', (_what, text, expected) => {
    expect(parsePressure(text)).toEqual({ ok: true, value: expected });
  });

  it('the captured container did stall (so the fixture shows non-zero PSI)', () => {
    expect(capturedTotal('some')).toBeGreaterThan(0);
  });

  it.each([
    ['an empty file', '', 'pressure file has no "some" line'],
    ['full alone', 'full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', 'pressure file has no "some" line'],
    [
      'a missing total',
      'some avg10=0.00 avg60=0.00 avg300=0.00\n',
      'expected "some|full avg10=.. avg60=.. avg300=.. total=..", got "some avg10=0.00 avg60=0.00 avg300=0.00"',
    ],
    [
      'an unknown line kind',
      'most avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
      'expected "some|full avg10=.. avg60=.. avg300=.. total=..", got "most avg10=0.00 avg60=0.00 avg300=0.00 total=0"',
    ],
  ])('rejects %s, quoting the line', (_what, text, error) => {
    expect(parsePressure(text)).toEqual({ ok: false, error });
  });
});
