import { parseJavaSize, parseJvmMemoryFlags } from '../../../src/sources/docker/jvm-flags';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('HotSpot sizes', () => {
  it.each([
    ['900m', 900 * MiB],
    ['900M', 900 * MiB],
    ['1g', GiB],
    ['2G', 2 * GiB],
    ['512k', 512 * 1024],
    ['1048576', 1048576],
    ['1t', 1024 * GiB],
    ['1.5g', undefined],
    ['', undefined],
    ['m', undefined],
  ])('%p -> %p', (text, bytes) => {
    expect(parseJavaSize(text)).toBe(bytes);
  });
});

describe('memory flags in JAVA_TOOL_OPTIONS and JAVA_OPTS', () => {
  it.each([
    ['-Xmx900m', undefined, { maxHeapBytes: 900 * MiB, flags: ['-Xmx900m'] }],
    ['-Xms256m -Xmx1g -Dfoo=bar', undefined, { maxHeapBytes: GiB, flags: ['-Xmx1g'] }],
    [
      '-XX:MaxHeapSize=536870912',
      undefined,
      { maxHeapBytes: 512 * MiB, flags: ['-XX:MaxHeapSize=536870912'] },
    ],
    ['-XX:MaxRAMPercentage=90.0', undefined, { maxRamPercentage: 90, flags: ['-XX:MaxRAMPercentage=90.0'] }],
    ['-XX:MaxRAMFraction=2', undefined, { maxRamFraction: 2, flags: ['-XX:MaxRAMFraction=2'] }],
    ['-XX:-UseContainerSupport', undefined, { containerSupport: false, flags: ['-XX:-UseContainerSupport'] }],
    // JAVA_OPTS comes later on the command line: its -Xmx wins.
    ['-Xmx2g', '-Xmx512m', { maxHeapBytes: 512 * MiB, flags: ['-Xmx2g', '-Xmx512m'] }],
    ['  -Xmx900m   -Dpassword=hunter2 ', undefined, { maxHeapBytes: 900 * MiB, flags: ['-Xmx900m'] }],
  ])('%p + %p', (tool, opts, expected) => {
    expect(parseJvmMemoryFlags([tool, opts])).toMatchObject(expected);
  });

  it.each([
    [['-Dfoo=bar -verbose:gc', undefined]],
    [[undefined, undefined]],
    [['-Xmxlots', '-XX:MaxRAMPercentage=150']],
  ])('no memory flag in %p: undefined', (strings) => {
    expect(parseJvmMemoryFlags(strings)).toBeUndefined();
  });

  it('never keeps anything of a variable but its memory flags', () => {
    const flags = parseJvmMemoryFlags(['-Dpassword=hunter2 -Xmx900m -Dtoken=abc', '-Dkey=secret']);
    expect(JSON.stringify(flags)).not.toMatch(/hunter2|abc|secret/);
  });
});
