import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { VmstatSource, parseVmstatOomKill } from '../../src/sources/vmstat';

describe('parseVmstatOomKill', () => {
  it.each<[string, string, number | RegExp]>([
    [
      '6.x, oom_kill among the other counters',
      'nr_free_pages 5912345\npgfault 123\noom_kill 10\nnuma_hit 1\n',
      10,
    ],
    ['first line', 'oom_kill 3\nnr_free_pages 1\n', 3],
    ['last line without newline', 'pgfault 1\noom_kill 7', 7],
    ['zero', 'oom_kill 0\n', 0],
    ['beyond 2^53', 'oom_kill 18446744073709551615\n', Number(18446744073709551615n)],
    [
      'an unknown counter with a strange value is none of its business',
      'future_counter ???\noom_kill 2\n',
      2,
    ],
    ['a key that only starts the same', 'oom_kill_future 9\noom_kill 4\n', 4],
    [
      'before 4.13: no oom_kill',
      'nr_free_pages 1\npgfault 2\n',
      /no oom_kill line \(it exists from kernel 4\.13\)/,
    ],
    ['a bad value', 'oom_kill many\n', /bad oom_kill line "oom_kill many"/],
    ['empty', '', /no oom_kill line/],
  ])('%s', (_name, text, expected) => {
    const r = parseVmstatOomKill(text);
    if (expected instanceof RegExp) expect(r.ok ? String(r.value) : r.error).toMatch(expected);
    else expect(r).toEqual({ ok: true, value: expected });
  });

  it('reads this machine’s /proc/vmstat', () => {
    const r = parseVmstatOomKill(fs.readFileSync('/proc/vmstat', 'utf8'));
    expect(r.ok).toBe(true);
  });
});

describe('VmstatSource', () => {
  let proc: string;
  beforeEach(() => {
    proc = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-vmstat-'));
  });
  afterEach(() => fs.rmSync(proc, { recursive: true, force: true }));

  it('re-reads the kept-open file at each read and reports its health', async () => {
    const file = path.join(proc, 'vmstat');
    fs.writeFileSync(file, 'nr_free_pages 1\noom_kill 4\n');
    const s = new VmstatSource({ procRoot: proc, log: pino({ level: 'silent' }) });
    expect(s.up).toBe(false);
    await s.start();
    expect(s.up).toBe(true);
    expect(s.read()).toBe(4);
    // Rewritten in place (same inode), as the kernel regenerates the file on each read from offset 0.
    fs.writeFileSync(file, 'nr_free_pages 1\noom_kill 5\n');
    expect(s.read()).toBe(5);
    fs.writeFileSync(file, 'nr_free_pages 1\n');
    expect(s.read()).toBeUndefined();
    expect(s.up).toBe(false);
    fs.writeFileSync(file, 'oom_kill 6\n');
    expect(s.read()).toBe(6);
    expect(s.up).toBe(true);
    await s.stop();
    expect(s.up).toBe(false);
  });

  it('a missing file: undefined, down, logged once, and read again once it exists', async () => {
    const lines: { msg: string }[] = [];
    const log = pino(
      { level: 'warn' },
      { write: (s: string) => lines.push(JSON.parse(s) as { msg: string }) },
    );
    const s = new VmstatSource({ procRoot: proc, log });
    await s.start();
    expect(s.read()).toBeUndefined();
    expect(s.up).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.msg).toMatch(/cannot read .*vmstat \(ENOENT\); mount the host's \/proc \(--proc-root\)/);
    fs.writeFileSync(path.join(proc, 'vmstat'), 'oom_kill 1\n');
    expect(s.read()).toBe(1);
    expect(s.up).toBe(true);
    await s.stop();
  });

  it('reads the real /proc/vmstat', async () => {
    const s = new VmstatSource({ procRoot: '/proc', log: pino({ level: 'silent' }) });
    await s.start();
    const v = s.read();
    expect(typeof v).toBe('number');
    expect(s.up).toBe(true);
    await s.stop();
  });
});
