/**
 * Memory sizes as the tools that take them write them: rounding a proposed limit to a unit a person would
 * choose, and printing it for Docker (`768m`, `2g`), Compose (the same strings) and Kubernetes (`768Mi`).
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/**
 * The step a limit is rounded up to, growing with the size so the proposal reads like one a person would
 * write: 16 MiB steps below 256 MiB, 64 MiB below 1 GiB, 256 MiB below 4 GiB, 512 MiB below 16 GiB, then
 * whole GiB. Coarser steps also keep the proposal from moving at every run as the peak creeps.
 */
export function roundingStep(bytes: number): number {
  if (bytes <= 256 * MiB) return 16 * MiB;
  if (bytes <= GiB) return 64 * MiB;
  if (bytes <= 4 * GiB) return 256 * MiB;
  if (bytes <= 16 * GiB) return 512 * MiB;
  return GiB;
}

/** Docker refuses limits below 6 MiB; nothing useful runs in less than this floor anyway. */
export const MIN_LIMIT = 32 * MiB;

/** Round a proposed limit up to its step (never down: rounding must not eat the headroom). */
export function roundLimitUp(bytes: number): number {
  const b = Math.max(bytes, MIN_LIMIT);
  const step = roundingStep(b);
  return Math.ceil(b / step) * step;
}

/** Round a reservation down to the step (a reservation is a promise to the scheduler; smaller is safer). */
export function roundReservationDown(bytes: number): number {
  if (bytes <= 0) return 0;
  const step = roundingStep(bytes);
  return Math.max(step, Math.floor(bytes / step) * step);
}

/**
 * Docker's and Compose's size strings (units b, k, m, g; 1024-based): the largest unit that divides the
 * value exactly, so `1536m` rather than `1.5g` (Docker accepts no fractions).
 */
export function dockerSize(bytes: number): string {
  if (bytes % GiB === 0 && bytes > 0) return `${bytes / GiB}g`;
  if (bytes % MiB === 0 && bytes > 0) return `${bytes / MiB}m`;
  if (bytes % KiB === 0 && bytes > 0) return `${bytes / KiB}k`;
  return `${bytes}b`;
}

/** Kubernetes quantity with binary suffixes (Ki, Mi, Gi), exact as dockerSize. */
export function k8sQuantity(bytes: number): string {
  if (bytes % GiB === 0 && bytes > 0) return `${bytes / GiB}Gi`;
  if (bytes % MiB === 0 && bytes > 0) return `${bytes / MiB}Mi`;
  if (bytes % KiB === 0 && bytes > 0) return `${bytes / KiB}Ki`;
  return String(bytes);
}
