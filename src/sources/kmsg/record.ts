import { type Parsed, fail, ok, quote } from '../../cgroup/parse';

/**
 * The kernel log device's record format (Documentation/ABI/testing/dev-kmsg), pure: one record's header and
 * text, its escapes, and cutting a byte stream into records for a file standing in for the device.
 */

/** One /dev/kmsg record (Documentation/ABI/testing/dev-kmsg). */
export interface KmsgRecord {
  /** syslog level 0 (emerg) .. 7 (debug). */
  level: number;
  facility: number;
  /** Sequence number: +1 per record since boot; a gap means records were overwritten. */
  seq: number;
  /** Microseconds since boot (the kernel's local clock, which stops during suspend). */
  usec: number;
  /** `-`, or `c`/`+` on kernels that store a continued line as several records. */
  flags: string;
  /** The text, with the device's `\xNN` escapes decoded. */
  message: string;
  /** Dictionary lines that follow the text (` SUBSYSTEM=acpi`, ` DEVICE=+acpi:PNP0A08:00`). */
  dict: Record<string, string>;
}

const HEADER = /^(\d+),(\d+),(\d+),([^,;]*)(?:,[^;]*)?$/;
const utf8 = new TextDecoder('utf-8');

/**
 * Decode the device's escapes: every byte below 0x20, at or above 0x7f, and the backslash itself is written
 * as `\xNN` (kernel/printk/printk.c msg_add_ext_text / escape). The bytes are then UTF-8 (a 15-byte comm may end
 * in the middle of a character: that one becomes U+FFFD).
 */
export function unescapeKmsg(text: string): string {
  if (!text.includes('\\x')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // Not from the device (which writes ASCII only): keep the character as UTF-8.
      bytes.push(...Buffer.from(text[i] as string, 'utf8'));
    }
  }
  return utf8.decode(Uint8Array.from(bytes));
}

/**
 * Parse one record as one read() of /dev/kmsg returns it:
 *   `6,426,149384028,-;oom-kill:constraint=CONSTRAINT_MEMCG,...,task=sh,pid=580,uid=0\n`
 * optionally followed by dictionary lines that start with a space (` SUBSYSTEM=acpi\n`). Header fields past the
 * fourth (`,caller=T12` with CONFIG_PRINTK_CALLER) are skipped.
 */
export function parseKmsgRecord(text: string): Parsed<KmsgRecord> {
  const semi = text.indexOf(';');
  if (semi < 0) return fail(`kmsg record without a ";" after its header: ${quote(text)}`);
  const header = HEADER.exec(text.slice(0, semi));
  if (!header) return fail(`kmsg record with a malformed header: ${quote(text)}`);
  const prio = Number(header[1]);
  const seq = Number(header[2]);
  const usec = Number(header[3]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(usec))
    return fail(`kmsg header out of range: ${quote(text)}`);
  const lines = text.slice(semi + 1).split('\n');
  const dict: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith(' ')) continue; // the final empty string after the trailing newline
    const eq = line.indexOf('=');
    if (eq > 1) dict[line.slice(1, eq)] = unescapeKmsg(line.slice(eq + 1));
  }
  return ok({
    level: prio & 7,
    facility: prio >> 3,
    seq,
    usec,
    flags: header[4] as string,
    message: unescapeKmsg(lines[0] as string),
    dict,
  });
}

/**
 * Cuts a byte stream of records into whole records, for a regular file or a pipe standing in for the device
 * (the device itself returns exactly one record per read). A record is a header line and the dictionary
 * lines after it; it is complete when the next header line starts, or at end().
 */
export class KmsgStreamSplitter {
  private partial = '';
  private current: string | undefined;

  /** Feed a chunk; returns the records completed by it. */
  push(chunk: string): string[] {
    const out: string[] = [];
    const text = this.partial + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl + 1);
      start = nl + 1;
      if (line.startsWith(' ')) {
        if (this.current !== undefined) this.current += line;
        continue; // a dictionary line without its record (the stream began mid-record): dropped
      }
      if (this.current !== undefined) out.push(this.current);
      this.current = line;
    }
    this.partial = text.slice(start);
    return out;
  }

  /** The stream has ended (or paused at a record boundary): return the last record held back. */
  end(): string[] {
    const out = this.current === undefined ? [] : [this.current];
    this.current = undefined;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The OOM killer's lines
