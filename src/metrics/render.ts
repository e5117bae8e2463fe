import type { ContainerTable } from '../state/containers';
import { writeContainerFamilies } from './container-families';
import { type ExpositionFormat, ExpositionWriter } from './exposition';
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
  /** A payload buffer already written out, ready for the next scrape. */
  private spare: Buffer | undefined;

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
    this.recycle(body);
    return text;
  }

  /** The payload as UTF-8 bytes, as /metrics sends it; hand it to recycle() once it is written out. */
  async renderBytes(format: ExpositionFormat): Promise<Buffer> {
    const spare = this.spare;
    this.spare = undefined;
    const w = new ExpositionWriter(format, this.lastSize, spare);
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
   * The response carrying `body` has been written out: its buffer takes the next payload. A payload is
   * megabytes with thousands of containers; a fresh buffer per scrape would sit outside the JavaScript
   * heap until a collection noticed it, tens of megabytes of resident memory under frequent scrapes.
   */
  recycle(body: Buffer): void {
    const whole = Buffer.from(body.buffer, body.byteOffset, body.buffer.byteLength - body.byteOffset);
    if (this.spare === undefined || whole.length > this.spare.length) this.spare = whole;
  }
}
