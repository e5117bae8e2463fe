import type { ContainerTable } from '../state/containers';
import { writeContainerFamilies } from './container-families';
import { type ExpositionFormat, ExpositionWriter } from './exposition';
import type { SelfMetrics } from './self';

/** A module that exports host-level families (the OOM ledger's scope counters, the kernel-log source...). */
export type FamilyContributor = (w: ExpositionWriter) => void;

/**
 * Builds the /metrics payload from memory only: the container table, the contributors' counters and
 * the self metrics. Nothing here reads a file.
 */
export class MetricsRenderer {
  private readonly contributors: FamilyContributor[] = [];

  constructor(
    private readonly table: ContainerTable,
    private readonly self: SelfMetrics,
  ) {}

  contribute(c: FamilyContributor): void {
    this.contributors.push(c);
  }

  async render(format: ExpositionFormat): Promise<string> {
    const w = new ExpositionWriter(format);
    const entries = [];
    for (const e of this.table.values()) if (!e.sandbox) entries.push(e);
    writeContainerFamilies(w, entries);
    for (const c of this.contributors) c(w);
    await this.self.write(w);
    return w.finish();
  }
}
