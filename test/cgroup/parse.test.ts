import { parseCount, parseKeyedCounts, parseLimit } from '../../src/cgroup/parse';

/**
 * Single-value files. Limits: v1 writes "no limit" as LONG_MAX rounded down to the page size
 * (mm/page_counter.c PAGE_COUNTER_MAX = LONG_MAX / PAGE_SIZE, shown times PAGE_SIZE by
 * mem_cgroup_read_u64()), v2 writes the word "max" (mm/memcontrol.c seq_puts_memcg_tunable()).
 */
describe('parseLimit', () => {
  it.each([
    ['v1 unlimited, 4 KiB pages (x86_64, most arm64)', '9223372036854771712\n', Infinity],
    ['v1 unlimited, 16 KiB pages (arm64 with 16K pages)', '9223372036854759424\n', Infinity],
    ['v1 unlimited, 64 KiB pages (ppc64le, arm64 with 64K pages)', '9223372036854710272\n', Infinity],
    ['v2 unlimited', 'max\n', Infinity],
    ['-1, as old tooling wrote it back', '-1\n', Infinity],
    ['a 256 MiB limit', '268435456\n', 268435456],
    ['zero (memory.swap.max of a container without swap)', '0\n', 0],
    ['no trailing newline', '67108864', 67108864],
    ['a limit just below 2^53', '9007199254740991\n', 9007199254740991],
  ])('%s', (_what, text, expected) => {
    expect(parseLimit(text)).toEqual({ ok: true, value: expected });
  });

  it('keeps a huge real limit that is not the sentinel (2^53 + 1 rounds to a double, not to unlimited)', () => {
    const r = parseLimit('9007199254740993\n');
    expect(r.ok && r.value).toBe(9007199254740992);
  });

  it.each([
    ['a word other than max', 'unlimited\n', 'expected a byte count or "max", got "unlimited"'],
    ['an empty file', '', 'expected a byte count or "max", got ""'],
    ['a unit suffix', '256M\n', 'expected a byte count or "max", got "256M"'],
    ['a negative count other than -1', '-4096\n', 'negative byte count "-4096"'],
    ['two values', '1 2\n', 'expected a byte count or "max", got "1 2"'],
  ])('rejects %s, quoting it', (_what, text, error) => {
    expect(parseLimit(text)).toEqual({ ok: false, error });
  });
});

describe('parseCount', () => {
  it.each([
    ['memory.usage_in_bytes', '33554432\n', 33554432],
    ['memory.failcnt of a cgroup that never hit its limit', '0\n', 0],
    ['a counter past 2^53 (rounded, harmless for counters)', '18446744073709551615\n', 18446744073709551616],
  ])('%s', (_what, text, expected) => {
    expect(parseCount(text)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['max is not a count', 'max\n', 'expected an integer, got "max"'],
    ['a negative count', '-1\n', 'expected a non-negative integer, got "-1"'],
    ['garbage', '12abc\n', 'expected an integer, got "12abc"'],
  ])('rejects %s', (_what, text, error) => {
    expect(parseCount(text)).toEqual({ ok: false, error });
  });
});

describe('parseKeyedCounts', () => {
  it('reads every "key value" line, unknown keys included, in order', () => {
    const r = parseKeyedCounts('low 0\nhigh 12\nsome_future_key 3\n');
    expect(r.ok && [...r.value]).toEqual([
      ['low', 0],
      ['high', 12],
      ['some_future_key', 3],
    ]);
  });

  it('names the line it cannot read', () => {
    expect(parseKeyedCounts('low 0\nhigh=12\n')).toEqual({
      ok: false,
      error: 'expected "key value", got "high=12"',
    });
  });
});
