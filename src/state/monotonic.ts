/**
 * A counter kept from a kernel counter that can start over: when a cgroup is removed and created again at
 * the same path (a container restarted under the same id), its files count from 0 again. The total only
 * ever grows: a drop is taken as a restart and the new raw value is added whole.
 *
 * The first raw value observed counts in full: the kernel's count since the cgroup was created is the
 * container's count (kills before oomwatch first saw it did happen to that container).
 */
export class MonotonicCounter {
  constructor(
    public total = 0,
    /** The last raw value read from the file, or undefined before the first read. */
    public lastRaw: number | undefined = undefined,
  ) {}

  /** Feed a raw reading; returns how much the total grew. */
  observe(raw: number): number {
    const delta = this.lastRaw === undefined || raw < this.lastRaw ? raw : raw - this.lastRaw;
    this.lastRaw = raw;
    this.total += delta;
    return delta;
  }

  /** The cgroup is gone: the next reading, from a new cgroup, starts from 0. */
  reset(): void {
    this.lastRaw = 0;
  }
}
