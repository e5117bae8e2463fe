/**
 * Slow work kept off a runtime's event stream: Docker inspect calls, containerd Containers/Get calls, anything
 * that waits on the runtime's API. Tasks run with bounded concurrency; a task keyed like one already waiting
 * is merged into it (a container started and renamed in quick succession is inspected once). A task that throws is reported
 * to `onError` and never stops the queue.
 */
export class WorkQueue {
  private readonly waiting = new Map<string, () => Promise<void>>();
  private running = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly concurrency: number,
    private readonly onError: (key: string, err: unknown) => void,
  ) {}

  /** Queue `task` under `key`, unless a task with that key is already waiting. Constant time. */
  push(key: string, task: () => Promise<void>): void {
    if (this.closed || this.waiting.has(key)) return;
    this.waiting.set(key, task);
    this.pump();
  }

  /** Tasks waiting plus running. */
  get size(): number {
    return this.waiting.size + this.running;
  }

  /** Resolves once nothing is waiting or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drop waiting tasks and refuse new ones; running tasks finish on their own. */
  close(): void {
    this.closed = true;
    this.waiting.clear();
    this.settle();
  }

  /** Accept tasks again after close() (a source started again). */
  open(): void {
    this.closed = false;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.size > 0) {
      const [key, task] = this.waiting.entries().next().value as [string, () => Promise<void>];
      this.waiting.delete(key);
      this.running++;
      void task()
        .catch((err: unknown) => this.onError(key, err))
        .finally(() => {
          this.running--;
          this.pump();
          this.settle();
        });
    }
  }

  private settle(): void {
    if (this.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
