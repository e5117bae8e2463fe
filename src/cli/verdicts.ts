import { formatBytes } from './format';

/**
 * What a container's swap settings mean in practice, in one sentence. Pure.
 *
 * Whether a container can swap depends on three things at once: the host must have swap, the cgroup must
 * allow it (v1 memory.memsw.limit_in_bytes above memory.limit_in_bytes, v2 memory.swap.max above 0), and
 * v1's memory.swappiness must not be 0. Docker's defaults hide this: `--memory 1g` alone allows another 1g
 * of swap, which on a host with swap turns a leak into a slow crawl rather than an OOM kill.
 */
export interface SwapInput {
  /** Swap the cgroup allows on top of memory (Infinity: unlimited; undefined: swap accounting off). */
  swapLimitBytes?: number;
  /** The host's SwapTotal. */
  hostSwapBytes?: number;
  /** v1 memory.swappiness. */
  swappiness?: number;
}

export interface SwapVerdict {
  /** true: the container cannot swap; false: it can; undefined: cannot tell. */
  effectivelyOff: boolean | undefined;
  text: string;
}

export function swapVerdict(s: SwapInput): SwapVerdict {
  const allows =
    s.swapLimitBytes === undefined
      ? ''
      : s.swapLimitBytes === Infinity
        ? ' (the cgroup would allow unlimited swap)'
        : s.swapLimitBytes > 0
          ? ` (the cgroup would allow ${formatBytes(s.swapLimitBytes)})`
          : '';
  if (s.hostSwapBytes === 0) return { effectivelyOff: true, text: `off: the host has no swap${allows}` };
  if (s.swapLimitBytes === 0)
    return { effectivelyOff: true, text: 'off: memory+swap limit equals the memory limit' };
  if (s.swappiness === 0)
    return { effectivelyOff: true, text: `effectively off: memory.swappiness is 0${allows}` };
  const host = s.hostSwapBytes === undefined ? '' : ` of the host's ${formatBytes(s.hostSwapBytes)}`;
  if (s.swapLimitBytes === Infinity)
    return { effectivelyOff: false, text: `on, unlimited: may swap out as much as it likes${host}` };
  if (s.swapLimitBytes !== undefined)
    return { effectivelyOff: false, text: `on: up to ${formatBytes(s.swapLimitBytes)} of swap${host}` };
  return {
    effectivelyOff: undefined,
    text: 'unknown: swap accounting is off in this kernel (no memory.memsw.* files; boot with swapaccount=1)',
  };
}

/**
 * The swap allowance Docker configured (HostConfig), for a container that is not running: MemorySwap is
 * memory plus swap, -1 unlimited, 0 unset (Docker then allows as much swap as memory).
 */
export function dockerSwapAllowance(memory: number, memorySwap: number): number | undefined {
  if (memory <= 0) return memorySwap === 0 || memorySwap === -1 ? Infinity : undefined;
  if (memorySwap === -1) return Infinity;
  if (memorySwap === 0) return memory;
  return Math.max(0, memorySwap - memory);
}
