import { jvmMaxHeap, limitForHeap } from '../../src/cli/jvm';
import { GiB, MiB } from '../../src/cli/units';
import { parseJvmMemoryFlags } from '../../src/sources/docker/jvm-flags';

describe('the maximum heap the JVM picks', () => {
  const host = 24 * GiB;
  it.each([
    ['-Xmx wins over the percentage', ['-Xmx900m -XX:MaxRAMPercentage=50'], GiB, 900 * MiB, 'max-heap'],
    ['percentage of the limit', ['-XX:MaxRAMPercentage=75'], GiB, 768 * MiB, 'percentage-of-limit'],
    ['fraction of the limit', ['-XX:MaxRAMFraction=2'], GiB, 512 * MiB, 'percentage-of-limit'],
    ['default 25% without a percentage', ['-XX:MaxRAM=2g'], 4 * GiB, 512 * MiB, 'percentage-of-limit'],
    [
      'the host without container support',
      ['-XX:-UseContainerSupport -XX:MaxRAMPercentage=50'],
      GiB,
      12 * GiB,
      'percentage-of-host',
    ],
    ['the host without a limit', ['-XX:MaxRAMPercentage=50'], Infinity, 12 * GiB, 'percentage-of-host'],
  ])('%s', (_what, strings, limit, heap, from) => {
    const flags = parseJvmMemoryFlags(strings);
    expect(flags).toBeDefined();
    expect(jvmMaxHeap(flags!, limit, host)).toEqual({ bytes: heap, from });
  });

  it('needs a quarter of the limit, and at least 64 MiB, beyond the heap', () => {
    expect(limitForHeap(768 * MiB)).toBe(GiB);
    expect(limitForHeap(96 * MiB)).toBe(160 * MiB);
  });
});
