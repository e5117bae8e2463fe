import type { ContainerTable } from '../state/containers';
import { writeContainerFamilies } from './container-families';
import { type ExpositionFormat, ExpositionWriter, releaseBytes } from './exposition';
import type { SelfMetrics } from './self';

/**
 * Writes some of the families that are not per container (the host's kills by scope, the kernel-log source's
 * counters, the Kubernetes pods...), from the plain state of the module that owns them.
 */
export type FamilyWriter = (w: ExpositionWriter) => void;

/**
 * Builds the /metrics payload from memory only: the container table, the contributors' counters and
 * the self metrics. Nothing here reads a file.
 */
export class MetricsRenderer {
  /** Size of the previous payload: the next one is written into a buffer of about that size. */
  private lastSize = 64 * 1024;

  /**
   * `families` are written after the per-container ones, in this order, and the self metrics last: main.ts
   * lists them (the order is part of the saved scrapes).
   */
  constructor(
    private readonly table: ContainerTable,
    private readonly self: SelfMetrics,
    private readonly families: readonly FamilyWriter[] = [],
  ) {}

  /** The payload as text (tests, tools). */
  async render(format: ExpositionFormat): Promise<string> {
    const body = await this.renderBytes(format);
    const text = body.toString('utf8');
    this.release(body);
    return text;
  }

  /**
   * The payload as UTF-8 bytes, as /metrics sends it, in a buffer of its own (scrapes may overlap); hand it
   * to release() once it is written out.
   */
  async renderBytes(format: ExpositionFormat): Promise<Buffer> {
    const w = new ExpositionWriter(format, this.lastSize);
    const entries = [];
    for (const e of this.table.values()) if (!e.sandbox) entries.push(e);
    writeContainerFamilies(w, entries);
    for (const write of this.families) write(w);
    await this.self.write(w);
    const body = w.finishBytes();
    this.lastSize = body.length;
    return body;
  }

  /**
   * The response carrying `body` has been written out: its memory is given back now, and `body` is empty
   * from here on. A payload is megabytes with thousands of containers, held outside the JavaScript heap; left
   * to the garbage collector it stays resident until a collection happens to notice it (tens of megabytes
   * under frequent scrapes), and kept for the next scrape it stays resident between scrapes. Released here,
   * nothing is held between scrapes and nothing waits for a collection; the next payload's buffer is sized
   * from this one's, so it is allocated once and not grown.
   */
  release(body: Buffer): void {
    releaseBytes(body);
  }
}
