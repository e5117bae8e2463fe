import * as fs from 'node:fs';
import type { KernelOomKill } from '../accounting/observations';
import { containerFromCgroupPath, shortId } from '../cgroup/container-path';
import { OomwatchError } from '../errors';
import { silentLogger } from '../log';
import { KmsgSource } from '../sources/kmsg/source';
import type { ContainerLabels } from '../state/labels';
import type { OomKill } from '../state/oom-kill';

/**
 * `events --kernel-log`: the OOM kills still in the kernel's ring buffer, read from /dev/kmsg with the
 * daemon's own kernel-log source, for a host where oomwatch serve is not running (or its state directory is
 * out of reach). Only what the ring still holds, and no exits: those come from Docker, through the daemon.
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

/** Reads kills as the daemon does (KmsgSource and its record assembler), polled by the caller. */
export class KernelLogReader {
  private readonly kills: KernelOomKill[] = [];
  private readonly source: KmsgSource;

  constructor(file: string, procRoot: string) {
    this.source = new KmsgSource({
      path: file,
      procRoot,
      log: silentLogger(),
      onKill: (k) => this.kills.push(k),
    });
  }

  /** Everything readable now; the first call reads the whole ring from its oldest record. */
  drain(): KernelOomKill[] {
    for (let i = 0; i < 10_000; i++) {
      const n = this.source.poll();
      if (n <= 0) break;
    }
    return this.kills.splice(0);
  }

  close(): void {
    void this.source.stop();
  }
}

/** Pure: a kernel-log kill as an event-log entry, so `events` prints both the same way. */
export function killAsEvent(
  k: KernelOomKill,
  nameOf: (id: string) => Partial<ContainerLabels> | undefined,
): OomKill {
  const container = k.taskMemcg ? containerFromCgroupPath(k.taskMemcg) : null;
  const ev: OomKill = {
    key: `kmsg:${k.bootId}:${k.seq}`,
    timeMs: k.timeMs,
    timeExact: true,
    scope: k.trigger === 'system' ? 'system' : container ? 'container' : 'other',
    trigger: k.trigger,
    groupKill: k.groupKill === true,
    sources: ['kmsg'],
    victim: { ...k.victim },
  };
  if (k.taskMemcg) ev.cgroup = k.taskMemcg;
  if (container) {
    ev.containerId = container.id;
    const known = nameOf(container.id);
    ev.labels = {
      id: shortId(container.id),
      name: known?.name ?? '',
      image: known?.image ?? '',
      compose_project: known?.compose_project ?? '',
      compose_service: known?.compose_service ?? '',
      namespace: known?.namespace ?? '',
      pod: known?.pod ?? '',
      container: known?.container ?? '',
    };
  }
  return ev;
}
