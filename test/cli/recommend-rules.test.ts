import { parseJvmMemoryFlags } from '../../src/sources/docker/jvm-flags';
import { failsOn, median, parseFailOn, recommend, type RecommendInput } from '../../src/cli/recommend-rules';
import { GiB, MiB } from '../../src/cli/units';

const now = Date.UTC(2026, 10, 28, 3, 0, 0);
const DAY = 86_400_000;

function input(over: Partial<RecommendInput>): RecommendInput {
  return {
    limitBytes: 320 * MiB,
    observations: [{ source: 'history', bytes: 200 * MiB, detail: '48 hourly peaks over 2d' }],
    typicalBytes: 150 * MiB,
    historyMs: 2 * DAY,
    minHistoryMs: DAY,
    swapPeakBytes: 0,
    oomKills: { count: 0 },
    hostMemoryBytes: 16 * GiB,
    headroom: 1.25,
    windowMs: 7 * DAY,
    now,
    ...over,
  };
}

describe('the proposed limit', () => {
  it.each([
    ['peak × headroom, rounded up', {}, 256 * MiB],
    [
      'the highest of all observations',
      {
        observations: [
          { source: 'current' as const, bytes: 100 * MiB, detail: '' },
          { source: 'cgroup' as const, bytes: 300 * MiB, detail: '' },
        ],
      },
      384 * MiB,
    ],
    ['a custom headroom', { headroom: 2 }, 448 * MiB],
    [
      'OOM-killed: at least the limit × headroom',
      { limitBytes: 256 * MiB, oomKills: { count: 2, lastMs: now - 3_600_000 } },
      320 * MiB,
    ],
    ['a fixed JVM heap needs room beyond it', { jvm: parseJvmMemoryFlags(['-Xmx900m']) }, 1280 * MiB],
    [
      'no reading but an OOM kill at a known limit',
      { observations: [], oomKills: { count: 1 }, limitBytes: 32 * MiB },
      48 * MiB,
    ],
  ])('%s', (_what, over, limit) => {
    expect(recommend(input(over)).limitBytes).toBe(limit);
  });

  it('proposes a reservation from the typical working set, rounded down, and no swap', () => {
    const r = recommend(input({}));
    expect(r.reservationBytes).toBe(144 * MiB);
    expect(r.memswapBytes).toBe(r.limitBytes);
  });

  it('keeps swap for a container that uses it', () => {
    const r = recommend(input({ swapPeakBytes: 40 * MiB }));
    expect(r.memswapBytes).toBe((r.limitBytes as number) + 64 * MiB);
  });
});

describe('findings', () => {
  const codes = (over: Partial<RecommendInput>): string[] =>
    recommend(input(over)).findings.map((f) => f.code);

  it.each([
    ['a limit with room: none', {}, []],
    ['no limit', { limitBytes: Infinity }, ['no-limit']],
    ['peak within the headroom of the limit', { limitBytes: 240 * MiB }, ['limit-below-peak']],
    ['peak above a lowered limit', { limitBytes: 128 * MiB }, ['limit-below-peak']],
    ['limit far above the peak', { limitBytes: 4 * GiB }, ['limit-far-above-peak']],
    [
      'twice the need but little waste: not far above',
      { limitBytes: 160 * MiB, observations: [{ source: 'history' as const, bytes: 50 * MiB, detail: '' }] },
      [],
    ],
    [
      'OOM kills',
      {
        limitBytes: 256 * MiB,
        observations: [{ source: 'history' as const, bytes: 250 * MiB, detail: '' }],
        oomKills: { count: 3, lastMs: now - 60_000 },
      },
      ['oom-kills', 'limit-below-peak'],
    ],
    ['oom_kill_disable', { oomKillDisabled: true }, ['oom-kill-disabled']],
    [
      'a JVM heap too large for the limit',
      {
        limitBytes: GiB,
        jvm: parseJvmMemoryFlags(['-Xmx900m']),
        observations: [{ source: 'history' as const, bytes: 500 * MiB, detail: '' }],
      },
      ['jvm-heap'],
    ],
    [
      'a JVM heap larger than the limit',
      { limitBytes: 512 * MiB, jvm: parseJvmMemoryFlags(['-Xmx1g']) },
      ['jvm-heap'],
    ],
    ['MaxRAMPercentage 90', { jvm: parseJvmMemoryFlags(['-XX:MaxRAMPercentage=90']) }, ['jvm-heap']],
    ['MaxRAMPercentage 75 is fine', { jvm: parseJvmMemoryFlags(['-XX:MaxRAMPercentage=75']) }, []],
    ['too little history', { historyMs: 3 * 3_600_000 }, ['little-history']],
    ['nothing seen at all', { observations: [], limitBytes: 512 * MiB }, ['no-data']],
  ])('%s', (_what, over, expected) => {
    expect(codes(over)).toEqual(expected);
  });

  it('says how much history there is', () => {
    const f = recommend(input({ historyMs: 3 * 3_600_000 + 20 * 60_000 })).findings[0];
    expect(f?.message).toContain('only 3h 20m of history');
  });

  it('names the flag and the numbers in the JVM finding, critical when the heap alone exceeds the limit', () => {
    const warn = recommend(
      input({
        limitBytes: GiB,
        jvm: parseJvmMemoryFlags(['-Xmx900m']),
        observations: [{ source: 'history', bytes: 500 * MiB, detail: '' }],
      }),
    ).findings[0];
    expect(warn).toMatchObject({ code: 'jvm-heap', severity: 'warning' });
    expect(warn?.message).toContain('-Xmx900m');
    expect(warn?.message).toContain('leaving 124 MiB');
    const crit = recommend(
      input({ limitBytes: 512 * MiB, jvm: parseJvmMemoryFlags(['-Xmx1g']) }),
    ).findings.find((x) => x.code === 'jvm-heap');
    expect(crit?.severity).toBe('critical');
  });

  it('lists the most severe first', () => {
    const sev = recommend(
      input({
        limitBytes: Infinity,
        historyMs: 60_000,
        jvm: parseJvmMemoryFlags(['-XX:MaxRAMPercentage=95']),
      }),
    ).findings.map((f) => f.severity);
    expect(sev).toEqual(
      [...sev].sort(
        (a, b) => ['critical', 'warning', 'info'].indexOf(a) - ['critical', 'warning', 'info'].indexOf(b),
      ),
    );
    expect(sev[0]).toBe('critical');
  });
});

describe('--fail-on', () => {
  it.each([
    [['any'], ['little-history'], true],
    [['no-limit'], ['little-history'], false],
    [['no-limit', 'oom-kills'], ['oom-kills'], true],
    [['jvm-heap'], [], false],
  ])('%p with findings %p fails: %p', (flags, found, fails) => {
    const parsed = parseFailOn(flags);
    expect(parsed.errors).toEqual([]);
    const findings = found.map((code) => ({ code, severity: 'info', message: '' })) as Parameters<
      typeof failsOn
    >[0];
    expect(failsOn(findings, parsed.codes)).toBe(fails);
  });

  it('rejects an unknown finding, naming the valid ones', () => {
    expect(parseFailOn(['no-limt']).errors[0]).toMatch(/unknown finding "no-limt".*no-limit/);
  });

  it.each([
    [[], undefined],
    [[3], 3],
    [[5, 1, 3], 3],
    [[4, 1, 3, 2], 2.5],
  ])('median(%p) = %p', (values, m) => {
    expect(median(values)).toBe(m);
  });
});
