import * as fs from 'node:fs';
import { OomLedger } from '../accounting/ledger';
import type { KernelOomKill } from '../accounting/observations';
import { OomwatchError } from '../errors';
import { silentLogger } from '../log';
import { KmsgSource } from '../sources/kmsg/source';
import { ContainerTable } from '../state/containers';
import type { ContainerMetadata } from '../state/labels';
import type { OomKill } from '../state/oom-kill';

/**
 * `events --kernel-log`: the OOM kills still in the kernel's ring buffer, read from /dev/kmsg with the
 * daemon's own kernel-log source and counted by the daemon's own OOM ledger, for a host where oomwatch serve
 * is not running (or its state directory is out of reach). Only what the ring still holds, and no exits:
 * those come from Docker, through the daemon.
 */

/** Open the device once up front, so that a permission problem is an error that names the fix. */
export function checkKernelLogReadable(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EACCES') {
      throw new OomwatchError(
        'OOMW_PERMISSION',
        `oomwatch: cannot read the kernel log ${file} (${code}): reading it needs CAP_SYSLOG when kernel.dmesg_restrict is 1. ` +
          'Run as root; in a container add --cap-add SYSLOG and --device /dev/kmsg (Kubernetes: capabilities.add SYSLOG and a hostPath /dev/kmsg). ' +
          "Without it, oomwatch events reads the daemon's state database instead (drop --kernel-log)",
      );
    }
    if (code === 'ENOENT') {
      throw new OomwatchError(
        'OOMW_PERMISSION',
        `oomwatch: there is no kernel log device ${file}: in a container pass the host's /dev/kmsg (docker run --device /dev/kmsg), or point --kmsg at it`,
      );
    }
    throw new OomwatchError(
      'OOMW_PERMISSION',
      `oomwatch: cannot open the kernel log ${file}: ${code ?? (err as Error).message}`,
    );
  }
  fs.closeSync(fd);
}

/**
 * Kills as the daemon counts them: records read by KmsgSource (and its record assembler), made kills by an
 * OomLedger over a container table of its own, whose entries carry the names the caller gives (from Docker).
 * Nothing but the kernel log feeds this ledger, so after each read there is nothing to wait for: every open
 * window is closed at once (flush), and what the ledger counted is handed back. Polled by the caller.
 */
export class KernelLogReader {
  private readonly records: KernelOomKill[] = [];
  private readonly counted: OomKill[] = [];
  private readonly names = new Map<string, ContainerMetadata>();
  private readonly table = new ContainerTable();
  private readonly ledger: OomLedger;
  private readonly source: KmsgSource;

  constructor(file: string, procRoot: string) {
    this.table.onCreated((entry) => {
      const known = this.names.get(entry.id);
      if (known) entry.applyMetadata(known);
    });
    this.ledger = new OomLedger({
      table: this.table,
      log: silentLogger(),
      matchWindowMs: 5000,
      kmsgUp: () => true,
    });
    // Only counted kills: an update of one already counted (a memory.oom.group leader marked as such) is on
    // the same record, and a kill handed back before it is not printed again.
    this.ledger.onKill((record, _entry, change) => {
      if (change === 'counted') this.counted.push(record);
    });
    this.source = new KmsgSource({
      path: file,
      procRoot,
      log: silentLogger(),
      onKill: (k) => this.records.push(k),
    });
  }

  /** What is known of a container (its name, image, labels); kills of it counted from now on carry it. */
  name(containerId: string, meta: ContainerMetadata): void {
    this.names.set(containerId, meta);
    this.table.get(containerId)?.applyMetadata(meta);
  }

  /** The kernel's records readable now, in kernel order; the first call reads the ring from its oldest record. */
  read(): KernelOomKill[] {
    for (let i = 0; i < 10_000; i++) {
      const n = this.source.poll();
      if (n <= 0) break;
    }
    return this.records.splice(0);
  }

  /** The kills `records` make, through the ledger, oldest first. */
  count(records: readonly KernelOomKill[]): OomKill[] {
    for (const k of records) this.ledger.onKernelKill(k);
    this.ledger.flush();
    // The ledger counts an anonymous kill (its cgroup line rate-limited away) when its window closes, after
    // the kills that followed it: back in the kernel's order (a stable sort keeps it among equal times).
    return this.counted.splice(0).sort((a, b) => a.timeMs - b.timeMs);
  }

  close(): void {
    void this.source.stop();
  }
}
