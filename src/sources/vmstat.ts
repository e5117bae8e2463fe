import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { type Parsed, fail, parseCount, quote } from '../cgroup/parse';
import type { Source } from '../source';

/**
 * /proc/vmstat, one `name value` pair a line:
 *   oom_kill 3
 * `oom_kill` (mm/vmstat.c, counted in mm/oom_kill.c __oom_kill_process) is every process the OOM killer has
 * killed on the host since boot, cgroup-limit and global OOMs alike; it exists from kernel 4.13. Only that
 * line is read: the other counters come and go between kernels and a line this parser does not know is none
 * of its business.
 */
export function parseVmstatOomKill(text: string): Parsed<number> {
  const line = /^oom_kill (.*)$/m.exec(text);
  if (!line) return fail('no oom_kill line (it exists from kernel 4.13)');
  const value = parseCount(line[1] as string);
  return value.ok ? value : fail(`bad oom_kill line ${quote(line[0])}: ${value.error}`);
}

export interface VmstatSourceOptions {
  /** The host's /proc. */
  procRoot: string;
  log: Logger;
}

/**
 * The host's OOM-kill total, read on demand by the OOM ledger at each poll (never on the scrape path). The
 * file is opened once and re-read with pread at offset 0, as the cgroup files are.
 */
export class VmstatSource implements Source {
  readonly name = 'vmstat';
  private readonly file: string;
  private fd: number | undefined;
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);
  private healthy = false;
  private loggedError: string | undefined;

  constructor(private readonly opts: VmstatSourceOptions) {
    this.file = path.join(opts.procRoot, 'vmstat');
  }

  get up(): boolean {
    return this.healthy;
  }

  async start(): Promise<void> {
    this.read();
  }

  async stop(): Promise<void> {
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch (err) {
        this.opts.log.warn({ err, file: this.file }, 'closing vmstat failed');
      }
    }
    this.fd = undefined;
    this.healthy = false;
  }

  /** The kernel's oom_kill now, or undefined when it cannot be read (logged once per distinct problem). */
  read(): number | undefined {
    let text: string;
    try {
      this.fd ??= fs.openSync(this.file, 'r');
      text = this.readAll(this.fd);
    } catch (err) {
      if (this.fd !== undefined) {
        try {
          fs.closeSync(this.fd);
        } catch {
          // the descriptor is unusable either way; the next read opens a new one
        }
      }
      this.fd = undefined;
      return this.failed(
        `cannot read ${this.file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); mount the host's /proc (--proc-root)`,
        err,
      );
    }
    const parsed = parseVmstatOomKill(text);
    if (!parsed.ok) return this.failed(`${this.file}: ${parsed.error}`);
    if (!this.healthy && this.loggedError !== undefined)
      this.opts.log.info({ file: this.file }, 'vmstat oom_kill readable again');
    this.healthy = true;
    this.loggedError = undefined;
    return parsed.value;
  }

  private readAll(fd: number): string {
    let total = 0;
    for (;;) {
      const n = fs.readSync(fd, this.buffer, total, this.buffer.length - total, total);
      if (n === 0 || total + n === this.buffer.length) return this.buffer.toString('latin1', 0, total + n);
      total += n;
    }
  }

  private failed(message: string, err?: unknown): undefined {
    this.healthy = false;
    if (this.loggedError !== message) {
      this.loggedError = message;
      this.opts.log.warn(
        { err, file: this.file },
        `${message}; oomwatch_oom_kills_total falls back to the kernel log and cgroup counters`,
      );
    }
    return undefined;
  }
}
