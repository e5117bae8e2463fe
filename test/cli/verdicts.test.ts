import { dockerSwapAllowance, swapVerdict } from '../../src/cli/verdicts';

const MiB = 1024 * 1024;

describe('is swap effectively off?', () => {
  it.each([
    [
      'host without swap',
      { swapLimitBytes: 96 * MiB, hostSwapBytes: 0 },
      true,
      'off: the host has no swap (the cgroup would allow 96 MiB)',
    ],
    [
      'memsw equal to the limit',
      { swapLimitBytes: 0, hostSwapBytes: 2048 * MiB },
      true,
      'off: memory+swap limit equals the memory limit',
    ],
    [
      'swappiness 0',
      { swapLimitBytes: 64 * MiB, hostSwapBytes: 2048 * MiB, swappiness: 0 },
      true,
      'effectively off: memory.swappiness is 0 (the cgroup would allow 64 MiB)',
    ],
    [
      'unlimited',
      { swapLimitBytes: Infinity, hostSwapBytes: 2048 * MiB, swappiness: 60 },
      false,
      "on, unlimited: may swap out as much as it likes of the host's 2 GiB",
    ],
    [
      'limited',
      { swapLimitBytes: 64 * MiB, hostSwapBytes: 2048 * MiB },
      false,
      "on: up to 64 MiB of swap of the host's 2 GiB",
    ],
    [
      'no swap accounting',
      { hostSwapBytes: 2048 * MiB },
      undefined,
      'unknown: swap accounting is off in this kernel (no memory.memsw.* files; boot with swapaccount=1)',
    ],
  ])('%s', (_what, input, off, text) => {
    expect(swapVerdict(input)).toEqual({ effectivelyOff: off, text });
  });
});

describe("Docker's HostConfig swap settings", () => {
  it.each([
    [64 * MiB, 0, 64 * MiB, '--memory alone: as much swap again'],
    [64 * MiB, 64 * MiB, 0, '--memory-swap equal to --memory: none'],
    [64 * MiB, 192 * MiB, 128 * MiB, 'the difference'],
    [64 * MiB, -1, Infinity, '-1: unlimited'],
    [0, 0, Infinity, 'no limit at all'],
  ])('Memory %p, MemorySwap %p -> %p (%s)', (memory, memorySwap, allowance) => {
    expect(dockerSwapAllowance(memory, memorySwap)).toBe(allowance);
  });
});
