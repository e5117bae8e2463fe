import { parseMeminfo, readHostMemory } from '../../src/sources/proc';

const KiB = 1024;

describe('parseMeminfo', () => {
  it.each<[string, string, { memTotalBytes: number; swapTotalBytes: number } | RegExp]>([
    [
      'a 6.x host with swap',
      'MemTotal:       24684084 kB\nMemFree:        21331940 kB\nSwapCached:            0 kB\nSwapTotal:       1048572 kB\nSwapFree:        1048572 kB\n',
      { memTotalBytes: 24684084 * KiB, swapTotalBytes: 1048572 * KiB },
    ],
    [
      'a host without swap',
      'MemTotal:        2009788 kB\nSwapTotal:             0 kB\n',
      { memTotalBytes: 2009788 * KiB, swapTotalBytes: 0 },
    ],
    [
      'a kernel without swap support prints no SwapTotal',
      'MemTotal:         262144 kB\nMemFree:          200000 kB\n',
      { memTotalBytes: 262144 * KiB, swapTotalBytes: 0 },
    ],
    [
      'lines without a unit and unknown lines are skipped',
      'HugePages_Total:       0\nFutureCounter:  ??? \nMemTotal:  4096 kB\nSwapTotal:  8 kB',
      { memTotalBytes: 4096 * KiB, swapTotalBytes: 8 * KiB },
    ],
    ['no MemTotal', 'MemFree:  1 kB\n', /^no MemTotal line$/],
    ['empty', '', /^no MemTotal line$/],
    ['a bad MemTotal, quoted', 'MemTotal:       lots kB\n', /^bad MemTotal line "MemTotal: {7}lots kB"$/],
    [
      'a bad SwapTotal, quoted',
      'MemTotal: 1 kB\nSwapTotal: -1 kB\n',
      /^bad SwapTotal line "SwapTotal: -1 kB"$/,
    ],
  ])('%s', (_name, text, expected) => {
    const r = parseMeminfo(text);
    if (expected instanceof RegExp) expect(r.ok ? JSON.stringify(r.value) : r.error).toMatch(expected);
    else expect(r).toEqual({ ok: true, value: expected });
  });

  it("reads this machine's /proc/meminfo", () => {
    const host = readHostMemory('/proc');
    expect(host?.memTotalBytes).toBeGreaterThan(0);
  });

  it('is undefined when the file cannot be read or parsed', () => {
    expect(readHostMemory('/nonexistent')).toBeUndefined();
    expect(readHostMemory('/proc', () => 'garbage')).toBeUndefined();
  });
});
