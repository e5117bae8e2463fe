import { renderTopTable, sortTopRows, type TopRow, topRow } from '../../src/cli/top';

const MiB = 1024 * 1024;
const t0 = Date.UTC(2026, 10, 28, 2, 11, 5);

describe('top: sorted by limit ratio', () => {
  const sample = (usage: number, limit: number) => ({
    readAtMs: t0,
    usage,
    limit,
    workingSet: usage,
  });
  const rows: TopRow[] = [
    topRow('1'.repeat(64), 'half', sample(50 * MiB, 100 * MiB)),
    topRow('2'.repeat(64), 'free-a', sample(10 * MiB, Infinity)),
    topRow('3'.repeat(64), 'full', sample(95 * MiB, 100 * MiB), { count: 2, lastMs: t0 - 600_000 }),
    topRow('4'.repeat(64), 'free-b', sample(300 * MiB, Infinity)),
    topRow('5'.repeat(64), 'low', sample(1 * MiB, 100 * MiB)),
  ];

  it('puts the highest ratio first and the unlimited last, largest first', () => {
    expect(sortTopRows(rows).map((r) => r.name)).toEqual(['full', 'half', 'low', 'free-b', 'free-a']);
  });

  it('draws bars, flags no limit and marks recent OOM kills', () => {
    const lines = renderTopTable(sortTopRows(rows), t0, false);
    expect(lines[0]).toMatch(
      /^CONTAINER\s+ID\s+WORKING SET\s+LIMIT\s+RATIO\s+USAGE\/LIMIT\s+PSI10\s+OOM KILLS$/,
    );
    expect(lines[1]).toMatch(
      /^full\s+333333333333\s+95 MiB\s+100 MiB\s+95\.0%\s+\[###################-\]\s+-\s+2 \(10m ago\)$/,
    );
    expect(lines[4]).toMatch(/^free-b\s+444444444444\s+300 MiB\s+none\s+-\s+NO LIMIT/);
    expect(lines.join('\n')).not.toContain('\x1b[');
  });
});
