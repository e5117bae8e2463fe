import {
  bar,
  formatBytes,
  formatDuration,
  formatPercent,
  formatTable,
  formatTime,
  paint,
} from '../../src/cli/format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [12.34 * 1024 * 1024, '12.3 MiB'],
    [256 * 1024 * 1024, '256 MiB'],
    [100 * 1024 * 1024, '100 MiB'],
    [1280 * 1024 * 1024, '1.25 GiB'],
    [23.5 * 1024 ** 3, '23.5 GiB'],
    [Infinity, 'unlimited'],
    [undefined, '-'],
  ])('%p -> %p', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [300, '300ms'],
    [45_000, '45s'],
    [12 * 60_000, '12m'],
    [3 * 3_600_000, '3h'],
    [3 * 3_600_000 + 5 * 60_000, '3h 05m'],
    [7 * 86_400_000, '7d'],
    [4 * 86_400_000 + 2 * 3_600_000, '4d 2h'],
  ])('%p ms -> %p', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('bar, percent, time', () => {
  it.each([
    [0, 10, '[----------]'],
    [0.5, 10, '[#####-----]'],
    [1, 10, '[##########]'],
    [1.7, 10, '[##########]'],
    [-1, 10, '[----------]'],
  ])('bar(%p, %p) = %p', (ratio, width, text) => {
    expect(bar(ratio, width)).toBe(text);
  });

  it('prints ratios as percentages and times in UTC to the second', () => {
    expect(formatPercent(0.786)).toBe('78.6%');
    expect(formatPercent(undefined)).toBe('-');
    expect(formatTime(Date.UTC(2026, 10, 28, 1, 34, 12, 999))).toBe('2026-11-28T01:34:12Z');
  });

  it('adds colour codes only when enabled', () => {
    expect(paint('x', 'red', false)).toBe('x');
    expect(paint('x', 'red', true)).toBe('\x1b[31mx\x1b[0m');
  });
});

describe('formatTable', () => {
  it('aligns columns, right-aligns numbers and leaves no trailing blanks', () => {
    const lines = formatTable(
      [{ header: 'NAME' }, { header: 'SIZE', right: true }, { header: 'NOTE' }],
      [
        ['web', '1 GiB', ''],
        ['database', '64 MiB', 'hot'],
      ],
    );
    expect(lines).toEqual(['NAME        SIZE  NOTE', 'web        1 GiB', 'database  64 MiB  hot']);
  });
});
