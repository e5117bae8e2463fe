import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { KernelOomKill } from '../../accounting/observations';
import type { KmsgCursor } from '../../state/cursors';
import { bootTimeMs, readBootId } from '../proc';
import { OomRecordAssembler } from './assembler';
import { KmsgStreamSplitter, parseKmsgRecord } from './record';
import type { Source } from '../../source';

export type { KmsgCursor };

/** The few file calls the source makes; tests replace them to play EPIPE, EINVAL or a vanishing device. */
export interface KmsgIo {
  openSync(file: string, flags: number): number;
  readSync(fd: number, buffer: Buffer, offset: number, length: number, position: null): number;
  closeSync(fd: number): void;
  fstatSync(fd: number): { isCharacterDevice(): boolean };
  readFileSync(file: string, encoding: 'utf8'): string;
}

export interface KmsgSourceOptions {
  /** The device, normally /dev/kmsg; a regular file is read as a stream of records (tests, replays). */
  path: string;
  /** The host's /proc: boot id and uptime. */
  procRoot: string;
  log: Logger;
  /** Every kill, once, in kernel order. Called synchronously from the read loop. */
  onKill(kill: KernelOomKill): void;
  /** The persisted cursor: kills of the same boot with seq <= cursor.seq are not delivered again. */
  cursor?: KmsgCursor;
  /** How long to wait after the device said EAGAIN before reading again, right after records came. */
  pollIntervalMs?: number;
  /**
   * The longest wait while the log stays quiet: each read that finds nothing doubles the wait from
   * pollIntervalMs up to this (default 400 ms, or pollIntervalMs when that is longer): a kill after a quiet spell
   * is read within 400 ms (the cgroup counter would tell only at the next poll on cgroup v1).
   */
  idlePollIntervalMs?: number;
  /** How long to wait before opening the device again after it could not be opened or read. */
  retryIntervalMs?: number;
  io?: Partial<KmsgIo>;
}

export interface KmsgStats {
  recordsRead: number;
  recordsLost: number;
  malformedRecords: number;
  oomKillRecords: number;
}

/**
 * One read returns one record and the kernel formats records of up to 8 KiB (CONSOLE_EXT_LOG_MAX); a
 * smaller buffer than the record gets EINVAL and the record is consumed. A regular file standing in for the
 * device returns many records per read, hence more.
 */
const READ_BUFFER_BYTES = 64 * 1024;
/** Records handled before yielding to the event loop (replaying a 16 MiB ring is ~100k records). */
const RECORDS_PER_SLICE = 2000;
/** Lost-record warnings are summed and logged at most this often. */
const LOST_LOG_INTERVAL_MS = 60_000;

const FIX =
  'oomwatch needs read access to the kernel log for exact OOM kills: run it as root with CAP_SYSLOG and, in a container, ' +
  'pass the device (docker run --device /dev/kmsg, or a hostPath /dev/kmsg in Kubernetes); kills are still counted ' +
  'from cgroup counters and Docker events meanwhile';

/**
 * Reads the kernel's OOM-kill records from /dev/kmsg.
 *
 * The device is opened O_NONBLOCK and read synchronously, one record per read, until EAGAIN; then a timer
 * waits for more (briefly after records came, up to idlePollIntervalMs while the log is quiet). A
 * non-blocking read of the device never sleeps, so no libuv pool thread is ever parked on it (a blocking
 * read would hold one of the pool's four threads for as long as the kernel stays quiet, and fs, DNS and
 * zlib work would queue behind it).
 *
 * Opening the device starts at the oldest record still in the ring. Every record goes through the
 * assembler (so that the context lines of a kill read before a restart are known again); kills with a seq
 * at or below the cursor of the same boot are not delivered. A seq gap (EPIPE: the ring wrapped past
 * oomwatch, or records overwritten while it was down) is counted exactly in records_lost.
 */
export class KmsgSource implements Source {
  readonly name = 'kmsg';
  private readonly io: KmsgIo;
  private readonly pollIntervalMs: number;
  private readonly idlePollIntervalMs: number;
  /** The wait before the next read while the log is quiet. */
  private idleWaitMs: number;
  private readonly retryIntervalMs: number;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private fd: number | undefined;
  private splitter: KmsgStreamSplitter | undefined;
  private assembler: OomRecordAssembler | undefined;
  private bootId: string | undefined;
  /** Last seq read on the current boot; undefined until the first record after opening on a new boot. */
  private lastSeq: number | undefined;
  /** Kills with seq <= this (of `bootId`) were delivered before: by an earlier run, or before a reopen. */
  private deliveredThrough = -1;
  private cursorIn: KmsgCursor | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private stopped = true;
  private healthy = false;
  private loggedOpenError: string | undefined;
  private pipeSeen = false;
  private lostUnlogged = 0;
  private lastLostLogMs = 0;
  readonly stats: KmsgStats = { recordsRead: 0, recordsLost: 0, malformedRecords: 0, oomKillRecords: 0 };

  constructor(private readonly opts: KmsgSourceOptions) {
    this.io = { ...nodeIo, ...opts.io };
    this.pollIntervalMs = opts.pollIntervalMs ?? 100;
    this.idlePollIntervalMs = Math.max(this.pollIntervalMs, opts.idlePollIntervalMs ?? 400);
    this.idleWaitMs = this.pollIntervalMs;
    this.retryIntervalMs = opts.retryIntervalMs ?? 10_000;
    this.cursorIn = opts.cursor;
  }

  get up(): boolean {
    return this.healthy;
  }

  /**
   * What the state store persists: everything up to seq has been delivered. It stays below a kill that has
   * been read but not delivered yet (one waiting for its successor: a memory.oom.group member, or a kill whose
   * summary was rate-limited, which a `Tasks in` line may follow; it is delivered at the next idle poll).
   */
  get cursor(): KmsgCursor | undefined {
    if (this.bootId === undefined || this.lastSeq === undefined) return this.cursorIn;
    const pending = this.assembler?.oldestPendingSeq();
    const seq = pending === undefined ? this.lastSeq : Math.min(this.lastSeq, pending - 1);
    return { bootId: this.bootId, seq: Math.max(seq, this.deliveredThrough) };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.close();
    this.healthy = false;
  }

  /**
   * Read everything available now (up to a slice of records) and deliver the kills. Returns the number of
   * records read, or -1 when the device is not open. The read loop calls it; tests call it directly.
   */
  poll(): number {
    if (this.fd === undefined && !this.open()) return -1;
    let n = 0;
    while (n < RECORDS_PER_SLICE && this.fd !== undefined) {
      const chunk = this.readChunk();
      if (chunk === undefined) break;
      n += this.consume(chunk);
    }
    // A regular file paused at its end: its last record is whole.
    if (this.splitter) for (const r of this.splitter.end()) this.handleRecord(r);
    if (n === 0 && this.fd !== undefined) this.flushAssembler();
    return n;
  }

  private tick(): void {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.stopped) return;
    let n: number;
    try {
      n = this.poll();
    } catch (err) {
      // A bug, not a kernel condition: keep reading rather than go silent.
      this.opts.log.error({ err }, 'processing the kernel log failed');
      n = 0;
    }
    if (this.stopped) return;
    if (n >= RECORDS_PER_SLICE) {
      this.immediate = setImmediate(() => this.tick());
      return;
    }
    // Records come in bursts (an OOM report is a dozen lines): read again soon after some came. A quiet log is
    // read less and less often, down to once per idlePollIntervalMs: each wake-up of an idle daemon costs more
    // CPU than the read itself, and ten a second were over half of what an oomwatch with no containers spent.
    if (n > 0) this.idleWaitMs = this.pollIntervalMs;
    const wait = n < 0 ? this.retryIntervalMs : n > 0 ? this.pollIntervalMs : this.idleWaitMs;
    if (n === 0) this.idleWaitMs = Math.min(this.idlePollIntervalMs, this.idleWaitMs * 2);
    this.timer = setTimeout(() => this.tick(), wait);
    this.timer.unref?.();
  }

  private open(): boolean {
    let boot: { bootId: string; bootTimeMs: number };
    try {
      boot = this.readBoot();
    } catch (err) {
      this.healthy = false;
      this.logOpenError(
        err,
        `cannot read the boot id and uptime under ${this.opts.procRoot} (--proc-root); the kernel log is not read without them`,
      );
      return false;
    }
    let fd: number | undefined;
    try {
      fd = this.io.openSync(this.opts.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const device = this.io.fstatSync(fd).isCharacterDevice();
      this.fd = fd;
      this.splitter = device ? undefined : new KmsgStreamSplitter();
      this.startBoot(boot);
      this.healthy = true;
      if (this.loggedOpenError !== undefined)
        this.opts.log.info({ path: this.opts.path }, 'kernel log readable again');
      this.loggedOpenError = undefined;
      return true;
    } catch (err) {
      if (fd !== undefined) this.safeClose(fd);
      this.healthy = false;
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      this.logOpenError(err, `cannot read the kernel log ${this.opts.path} (${code}); ${FIX}`);
      return false;
    }
  }

  /** Logged once per distinct failure, not at every retry. */
  private logOpenError(err: unknown, message: string): void {
    if (this.loggedOpenError === message) return;
    this.loggedOpenError = message;
    this.opts.log.error(
      { err, path: this.opts.path },
      `${message}. Retrying every ${this.retryIntervalMs / 1000} s`,
    );
  }

  private readBoot(): { bootId: string; bootTimeMs: number } {
    const bootId = readBootId(this.opts.procRoot, this.io.readFileSync);
    return { bootId, bootTimeMs: bootTimeMs(this.io, this.opts.procRoot) };
  }

  /** After (re)opening: the ring is read from its start, so the assembler starts afresh. */
  private startBoot(boot: { bootId: string; bootTimeMs: number }): void {
    if (this.bootId === boot.bootId && this.lastSeq !== undefined) {
      // Reopened after an error: what was read before is not delivered twice.
      this.deliveredThrough = Math.max(this.deliveredThrough, this.cursor?.seq ?? -1);
    } else {
      const c = this.cursorIn;
      this.deliveredThrough = c !== undefined && c.bootId === boot.bootId ? c.seq : -1;
      this.lastSeq = undefined;
    }
    this.bootId = boot.bootId;
    this.assembler = new OomRecordAssembler(boot);
    this.pipeSeen = false;
  }

  /** One read: a record (device), a chunk of records (file), or undefined at EAGAIN / end of file. */
  private readChunk(): string | undefined {
    const fd = this.fd as number;
    let n: number;
    try {
      n = this.io.readSync(fd, this.buffer, 0, this.buffer.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return undefined;
      if (code === 'EPIPE') {
        // The ring overwrote records we had not read; the next read returns the oldest one left and the
        // seq gap says how many went.
        this.pipeSeen = true;
        return '';
      }
      if (code === 'EINVAL') {
        // A record larger than the buffer (cannot happen with 8 KiB or more): it is consumed; the seq gap counts it.
        return '';
      }
      this.healthy = false;
      this.opts.log.error({ err, path: this.opts.path }, 'reading the kernel log failed; reopening it');
      this.close();
      return undefined;
    }
    if (n === 0) return undefined; // end of a regular file
    return this.buffer.toString('latin1', 0, n); // the device writes ASCII only (everything else is \xNN)
  }

  private consume(chunk: string): number {
    if (chunk === '') return 1;
    if (this.splitter === undefined) {
      this.handleRecord(chunk);
      return 1;
    }
    const records = this.splitter.push(chunk);
    for (const r of records) this.handleRecord(r);
    return Math.max(records.length, 1);
  }

  private handleRecord(text: string): void {
    const parsed = parseKmsgRecord(text);
    this.stats.recordsRead++;
    if (!parsed.ok) {
      this.stats.malformedRecords++;
      return;
    }
    const record = parsed.value;
    const assembler = this.assembler as OomRecordAssembler;
    const lost = this.lostBefore(record.seq);
    if (lost > 0) {
      this.noteLost(lost);
      this.deliver(assembler.recordsLost());
    }
    this.lastSeq = record.seq;
    this.deliver(assembler.push(record));
  }

  /** Records the kernel numbered but we never saw before this one. */
  private lostBefore(seq: number): number {
    if (this.lastSeq !== undefined) return Math.max(0, seq - this.lastSeq - 1);
    // First record after opening on this boot.
    const c = this.cursorIn;
    if (c === undefined) return 0; // first run ever: what scrolled out before oomwatch existed is not a loss
    if (c.bootId === this.bootId) return Math.max(0, seq - c.seq - 1);
    return seq; // a new boot since the cursor: records 0..seq-1 of this boot were overwritten while down
  }

  private noteLost(n: number): void {
    this.stats.recordsLost += n;
    this.lostUnlogged += n;
    const now = Date.now();
    if (now - this.lastLostLogMs >= LOST_LOG_INTERVAL_MS) {
      this.opts.log.warn(
        { lost: this.lostUnlogged, overrun: this.pipeSeen },
        'kernel log records were overwritten before oomwatch read them; OOM kills among them are counted from cgroup counters and Docker events',
      );
      this.lastLostLogMs = now;
      this.lostUnlogged = 0;
    }
    this.pipeSeen = false;
  }

  private flushAssembler(): void {
    if (this.assembler) this.deliver(this.assembler.flush());
  }

  private deliver(kills: KernelOomKill[]): void {
    for (const k of kills) {
      this.stats.oomKillRecords++;
      if (k.bootId === this.bootId && k.seq <= this.deliveredThrough) continue;
      try {
        this.opts.onKill(k);
      } catch (err) {
        this.opts.log.error({ err, seq: k.seq, pid: k.victim.pid }, 'the OOM-kill listener failed');
      }
    }
  }

  private close(): void {
    if (this.fd !== undefined) this.safeClose(this.fd);
    this.fd = undefined;
  }

  private safeClose(fd: number): void {
    try {
      this.io.closeSync(fd);
    } catch (err) {
      this.opts.log.warn({ err }, 'closing the kernel log failed');
    }
  }
}

const nodeIo: KmsgIo = {
  openSync: (file, flags) => fs.openSync(file, flags),
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  closeSync: (fd) => fs.closeSync(fd),
  fstatSync: (fd) => fs.fstatSync(fd),
  readFileSync: (file, encoding) => fs.readFileSync(file, encoding),
};
