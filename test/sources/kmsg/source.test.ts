import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { KernelOomKill } from '../../../src/accounting/observations';
import { ExpositionWriter } from '../../../src/metrics/exposition';
import { kmsgFamilies } from '../../../src/metrics/kmsg-families';
import { type KmsgCursor, type KmsgIo, KmsgSource } from '../../../src/sources/kmsg/source';
import { bootTimeMs } from '../../../src/sources/proc';
import { eventually } from '../../helpers/daemon';
import { FIXTURES as ALL_FIXTURES } from '../../helpers/paths';

/**
 * The source against stand-ins for /dev/kmsg: a regular file (records appended by the test, read as a
 * stream) and a scripted device (one record per read, EAGAIN, EPIPE, EINVAL, open failures) for what a file
 * cannot do. The real device is read in test/real/kmsg.test.ts.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'kmsg');
const BOOT_ID = '34333f11-0282-4871-bc0d-b3fb340c3374';
const UPTIME_S = 953.58;

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function capturingLogger(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

function procRoot(bootId = BOOT_ID): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-proc-'));
  fs.mkdirSync(path.join(root, 'sys/kernel/random'), { recursive: true });
  fs.writeFileSync(path.join(root, 'sys/kernel/random/boot_id'), `${bootId}\n`);
  fs.writeFileSync(path.join(root, 'uptime'), `${UPTIME_S} 1568.92\n`);
  fs.writeFileSync(path.join(root, 'stat'), 'cpu  1 2 3\nbtime 1795828436\nprocesses 100\n');
  return root;
}

const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'latin1');

describe('KmsgSource on a regular file standing in for the device', () => {
  let dir: string;
  let file: string;
  let proc: string;
  const sources: KmsgSource[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-kmsg-'));
    file = path.join(dir, 'kmsg');
    proc = procRoot();
  });
  afterEach(async () => {
    for (const s of sources.splice(0)) await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(proc, { recursive: true, force: true });
  });

  function source(
    kills: KernelOomKill[],
    cursor?: KmsgCursor,
    extra: Partial<ConstructorParameters<typeof KmsgSource>[0]> = {},
  ): KmsgSource {
    const s = new KmsgSource({
      path: file,
      procRoot: proc,
      log: pino({ level: 'silent' }),
      onKill: (k) => kills.push(k),
      pollIntervalMs: 10,
      ...(cursor ? { cursor } : {}),
      ...extra,
    });
    sources.push(s);
    if (cursor) expect(s.cursor).toEqual(cursor);
    return s;
  }

  it('delivers each kill once as records arrive, split anywhere across writes, with wall-clock times', async () => {
    fs.writeFileSync(file, fixture('5.10-memcg.txt'));
    const kills: KernelOomKill[] = [];
    const s = source(kills);
    const before = Date.now();
    await s.start();
    await eventually(() => (kills.length === 1 ? true : undefined), 5000, 'the first kill');
    expect(s.up).toBe(true);
    expect(kills[0]).toMatchObject({ bootId: BOOT_ID, seq: 5011, victim: { pid: 2345, comm: 'python3' } });
    // boot time = now - uptime; the record is 400.000420 s after boot
    const bootMs = before - UPTIME_S * 1000;
    expect(Math.abs((kills[0] as KernelOomKill).timeMs - (bootMs + 400_000))).toBeLessThan(1000);

    // The group fixture, written in pieces that cut records (and a header) in the middle.
    const more = fixture('6.1-group.txt');
    for (const piece of [more.slice(0, 37), more.slice(37, 500), more.slice(500, 1201), more.slice(1201)]) {
      fs.appendFileSync(file, piece);
      await new Promise((r) => setTimeout(r, 30));
    }
    await eventually(() => (kills.length === 5 ? true : undefined), 5000, 'the group kills');
    expect(kills.map((k) => [k.seq, k.victim.pid, k.groupKill === true])).toEqual([
      [5011, 2345, false],
      [8004, 68061, false],
      [8006, 68061, true],
      [8008, 68050, true],
      [8010, 68062, true],
    ]);
    expect(s.cursor).toEqual({ bootId: BOOT_ID, seq: 8011 });
    expect(s.stats).toMatchObject({ oomKillRecords: 5, malformedRecords: 0 });
    await new Promise((r) => setTimeout(r, 100));
    expect(kills).toHaveLength(5);
  });

  it('a restart with the cursor delivers only what came after it; a cursor of another boot replays the ring', () => {
    fs.writeFileSync(file, fixture('5.10-memcg.txt') + fixture('6.1-group.txt'));
    const first: KernelOomKill[] = [];
    const a = source(first);
    a.poll();
    a.poll();
    expect(first).toHaveLength(5);
    const cursor = a.cursor as KmsgCursor;

    const again: KernelOomKill[] = [];
    source(again, cursor).poll();
    expect(again).toEqual([]);

    // A cursor taken in the middle: only the kills after it.
    const mid: KernelOomKill[] = [];
    const m = source(mid, { bootId: BOOT_ID, seq: 8006 });
    m.poll();
    m.poll();
    expect(mid.map((k) => k.seq)).toEqual([8008, 8010]);
    // ...and the first of them is still a group member: the context before the cursor was read again.
    expect(mid[0]).toMatchObject({
      groupKill: true,
      groupMemcg: expect.stringContaining('cri-containerd-178ec'),
    });

    const otherBoot: KernelOomKill[] = [];
    const o = source(otherBoot, { bootId: 'another-boot', seq: 999_999 });
    o.poll();
    o.poll();
    expect(otherBoot).toHaveLength(5);
  });

  it('counts malformed records and reports its counters as a metric family', () => {
    fs.writeFileSync(file, fixture('garbage.txt'));
    const s = source([]);
    s.poll();
    const w = new ExpositionWriter('prometheus');
    kmsgFamilies(s)(w);
    const text = w.finish();
    expect(text).toContain(
      '# TYPE oomwatch_kmsg_records_read_total counter\noomwatch_kmsg_records_read_total 13\n',
    );
    expect(text).toContain('oomwatch_kmsg_records_malformed_total 4\n');
    expect(text).toContain('oomwatch_kmsg_oom_kill_records_total 0\n');
    expect(text).toContain('oomwatch_kmsg_records_lost_total 0\n');
    const om = new ExpositionWriter('openmetrics');
    kmsgFamilies(s)(om);
    expect(om.finish()).toContain(
      '# TYPE oomwatch_kmsg_records_lost counter\noomwatch_kmsg_records_lost_total 0\n',
    );
  });

  it('boot time comes from /proc/uptime, else from btime', () => {
    const io = { readFileSync: (f: string) => fs.readFileSync(f, 'utf8') };
    expect(bootTimeMs(io, proc, 1_000_000_000)).toBe(1_000_000_000 - 953_580);
    fs.rmSync(path.join(proc, 'uptime'));
    expect(bootTimeMs(io, proc)).toBe(1_795_828_436_000);
  });
});

/** A scripted character device: each read returns the next record or throws the next error, then EAGAIN. */
class FakeDevice {
  readonly script: (string | 'EAGAIN' | 'EPIPE' | 'EINVAL' | 'EIO')[] = [];
  openError: string | undefined;
  opens = 0;
  closes = 0;
  bootId = BOOT_ID;

  io(): KmsgIo {
    const err = (code: string): NodeJS.ErrnoException =>
      Object.assign(new Error(`${code}: scripted`), { code });
    return {
      openSync: () => {
        if (this.openError) throw err(this.openError);
        this.opens++;
        return 42;
      },
      readSync: (_fd, buffer) => {
        const next = this.script.shift() ?? 'EAGAIN';
        if (next === 'EAGAIN' || next === 'EPIPE' || next === 'EINVAL' || next === 'EIO') throw err(next);
        return buffer.write(next, 0, 'latin1');
      },
      closeSync: () => {
        this.closes++;
      },
      fstatSync: () => ({ isCharacterDevice: () => true }),
      readFileSync: (f: string) => {
        if (f.endsWith('boot_id')) return `${this.bootId}\n`;
        if (f.endsWith('uptime')) return `${UPTIME_S} 0\n`;
        throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      },
    };
  }
}

const rec = (seq: number, message: string, usec = seq * 1000): string => `6,${seq},${usec},-;${message}\n`;
const killedLine = (seq: number, pid: number): string =>
  rec(
    seq,
    `Memory cgroup out of memory: Killed process ${pid} (p${pid}) total-vm:10kB, anon-rss:8kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0`,
  );

/**
 * A poll that finds nothing new. The scripted kills have no summary (as when the kernel's rate limit dropped
 * it), so the last one read is held until then: a `Tasks in ... memory.oom.group` line could still follow it.
 */
function idle(s: KmsgSource): void {
  expect(s.poll()).toBe(0);
}

describe('KmsgSource on a scripted device', () => {
  function make(dev: FakeDevice, cursor?: KmsgCursor) {
    const kills: KernelOomKill[] = [];
    const { log, lines } = capturingLogger();
    const s = new KmsgSource({
      path: '/dev/kmsg',
      procRoot: '/proc',
      log,
      onKill: (k) => kills.push(k),
      io: dev.io(),
      ...(cursor ? { cursor } : {}),
    });
    return { s, kills, lines };
  }

  it('EPIPE: records overwritten; the seq gap counts exactly how many, and reading carries on', () => {
    const dev = new FakeDevice();
    dev.script.push(rec(1, 'a'), killedLine(2, 100), 'EPIPE', killedLine(10, 101), rec(11, 'b'));
    const { s, kills, lines } = make(dev);
    s.poll();
    idle(s);
    expect(kills.map((k) => k.victim.pid)).toEqual([100, 101]);
    expect(s.stats).toMatchObject({ recordsRead: 4, recordsLost: 7 });
    expect(lines.find((l) => l.level === 40)).toMatchObject({ lost: 7, overrun: true });
    expect(s.cursor).toEqual({ bootId: BOOT_ID, seq: 11 });
  });

  it('EINVAL (a record too big for the buffer) consumes the record: counted lost by its seq gap', () => {
    const dev = new FakeDevice();
    dev.script.push(rec(1, 'a'), 'EINVAL', killedLine(3, 7));
    const { s, kills } = make(dev);
    s.poll();
    idle(s);
    expect(kills).toHaveLength(1);
    expect(s.stats.recordsLost).toBe(1);
  });

  it('records that scrolled out while oomwatch was down are counted lost; none on a first run ever', () => {
    const dev = new FakeDevice();
    dev.script.push(rec(500, 'oldest left'), killedLine(501, 9));
    const resumed = make(dev, { bootId: BOOT_ID, seq: 450 });
    resumed.s.poll();
    idle(resumed.s);
    expect(resumed.s.stats.recordsLost).toBe(49);
    expect(resumed.kills).toHaveLength(1);

    dev.script.push(rec(500, 'oldest left'));
    const rebooted = make(dev, { bootId: 'the-boot-before', seq: 90_000 });
    rebooted.s.poll();
    expect(rebooted.s.stats.recordsLost).toBe(500);

    dev.script.push(rec(500, 'oldest left'));
    const fresh = make(dev);
    fresh.s.poll();
    expect(fresh.s.stats.recordsLost).toBe(0);
  });

  it('a group member read at the end of a drain is delivered at the next idle poll; the cursor stays below it', () => {
    const dev = new FakeDevice();
    dev.script.push(
      rec(
        1,
        'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/g,task_memcg=/g,task=p100,pid=100,uid=0',
      ),
      killedLine(2, 100),
      rec(3, 'Tasks in /g are going to be killed due to memory.oom.group set'),
      killedLine(4, 101),
    );
    const { s, kills } = make(dev);
    expect(s.poll()).toBe(4);
    expect(kills.map((k) => k.victim.pid)).toEqual([100]);
    expect(s.cursor).toEqual({ bootId: BOOT_ID, seq: 3 });
    expect(s.poll()).toBe(0);
    expect(kills.map((k) => [k.victim.pid, k.groupKill === true])).toEqual([
      [100, false],
      [101, true],
    ]);
    expect(s.cursor).toEqual({ bootId: BOOT_ID, seq: 4 });
  });

  it('cannot open: up is 0, the fix is logged once, and it opens when the device comes back', () => {
    const dev = new FakeDevice();
    dev.openError = 'EACCES';
    const { s, lines, kills } = make(dev);
    expect(s.poll()).toBe(-1);
    expect(s.poll()).toBe(-1);
    expect(s.up).toBe(false);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(
      /cannot read the kernel log \/dev\/kmsg \(EACCES\).*CAP_SYSLOG.*--device \/dev\/kmsg/,
    );

    dev.openError = undefined;
    dev.script.push(killedLine(1, 5));
    expect(s.poll()).toBe(1);
    expect(s.up).toBe(true);
    idle(s);
    expect(kills).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'kernel log readable again')).toBe(true);
  });

  it('a read error closes the device; reopening replays the ring without delivering anything twice', () => {
    const dev = new FakeDevice();
    dev.script.push(killedLine(1, 5), 'EIO');
    const { s, kills } = make(dev);
    s.poll();
    expect(s.up).toBe(false);
    expect(dev.closes).toBe(1);
    dev.script.push(killedLine(1, 5), killedLine(2, 6));
    s.poll();
    expect(s.up).toBe(true);
    idle(s);
    expect(kills.map((k) => k.victim.pid)).toEqual([5, 6]);
    expect(s.stats.recordsLost).toBe(0);
  });

  it('a listener that throws does not stop the reading', () => {
    const dev = new FakeDevice();
    dev.script.push(killedLine(1, 5), killedLine(2, 6));
    const seen: number[] = [];
    const { log, lines } = capturingLogger();
    const s = new KmsgSource({
      path: '/dev/kmsg',
      procRoot: '/proc',
      log,
      io: dev.io(),
      onKill: (k) => {
        seen.push(k.victim.pid);
        throw new Error('listener bug');
      },
    });
    s.poll();
    idle(s);
    expect(seen).toEqual([5, 6]);
    expect(lines.filter((l) => l.msg === 'the OOM-kill listener failed')).toHaveLength(2);
  });

  it('reads a quiet log less and less often, down to idlePollIntervalMs, and soon again once records come', async () => {
    const dev = new FakeDevice();
    const kills: KernelOomKill[] = [];
    const reads: number[] = [];
    const io = dev.io();
    const s = new KmsgSource({
      path: '/dev/kmsg',
      procRoot: '/proc',
      log: pino({ level: 'silent' }),
      onKill: (k) => kills.push(k),
      io: { ...io, readSync: (...args) => (reads.push(Date.now()), io.readSync(...args)) },
      pollIntervalMs: 10,
      idlePollIntervalMs: 200,
    });
    await s.start();
    await new Promise((r) => setTimeout(r, 700));
    // Waits of 10, 20, 40, 80, 160, then 200 ms: about 8 reads in 700 ms, where a fixed 10 ms wait made 70.
    expect(reads.length).toBeGreaterThanOrEqual(5);
    expect(reads.length).toBeLessThanOrEqual(14);
    const gaps = (from: number): number[] =>
      reads.slice(from + 1).map((t, i) => t - (reads[from + i] as number));
    expect(Math.max(...gaps(0))).toBeGreaterThanOrEqual(150);
    // A record is read within the longest wait, and the waits are short again right after it.
    dev.script.push(killedLine(1, 5));
    const before = reads.length;
    await eventually(() => (kills.length === 1 ? true : undefined), 2000, 'a kill');
    await eventually(() => (reads.length >= before + 4 ? true : undefined), 2000, 'reads after the kill');
    // reads[before] read the record, reads[before + 1] found the device empty: then 10 and 20 ms, not 200.
    expect(
      gaps(before)
        .slice(0, 3)
        .every((g) => g < 120),
    ).toBe(true);
    await s.stop();
  });

  it('the read loop drains to EAGAIN, waits, and reads again; stop() closes the device', async () => {
    const dev = new FakeDevice();
    const kills: KernelOomKill[] = [];
    const s = new KmsgSource({
      path: '/dev/kmsg',
      procRoot: '/proc',
      log: pino({ level: 'silent' }),
      onKill: (k) => kills.push(k),
      io: dev.io(),
      pollIntervalMs: 20,
    });
    await s.start();
    dev.script.push(killedLine(1, 5));
    await eventually(() => (kills.length === 1 ? true : undefined), 2000, 'a kill');
    await s.stop();
    expect(s.up).toBe(false);
    expect(dev.closes).toBe(1);
    dev.script.push(killedLine(2, 6));
    await new Promise((r) => setTimeout(r, 80));
    expect(kills).toHaveLength(1);
  });
});
