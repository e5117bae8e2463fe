import * as fs from 'node:fs';
import * as path from 'node:path';
import { memoryStatFigures, memoryStatFiguresInBytes, parseMemoryStat } from '../../src/cgroup/memory-stat';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * The reader takes memory.stat straight from its bytes when the file is well formed and parses the text
 * otherwise. Both must give the same figures: on every memory.stat of the fixture trees (copied from real
 * kernels) the byte path must answer, and answer what the text parser does; on odd files it may step aside
 * (undefined) but never answer differently.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');

function statFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...statFiles(p));
    else if (e.name === 'memory.stat') out.push(p);
  }
  return out;
}

const byteFigures = (text: string, version: 1 | 2) => {
  const bytes = Buffer.from(text, 'latin1');
  // The reader's buffer is larger than the file: only `length` bytes count.
  const padded = Buffer.concat([bytes, Buffer.from('garbage 1\nmore')]);
  return memoryStatFiguresInBytes(padded, bytes.length, version);
};

const textFigures = (text: string, version: 1 | 2) => {
  const r = parseMemoryStat(text, version);
  return r.ok ? memoryStatFigures(r.value) : undefined;
};

describe.each([
  ['v1', 1],
  ['hybrid', 1],
  ['v2', 2],
] as const)('memory.stat of the %s fixture tree', (mode, version) => {
  const files = statFiles(path.join(FIXTURES, mode));
  it('has files to check', () => expect(files.length).toBeGreaterThan(0));
  it.each(files.map((f) => [path.relative(FIXTURES, f), f]))('%s: bytes and text agree', (_name, file) => {
    const text = fs.readFileSync(file, 'latin1');
    const fromBytes = byteFigures(text, version);
    expect(fromBytes).toBeDefined();
    expect(fromBytes).toEqual(textFigures(text, version));
  });
});

describe('memoryStatFiguresInBytes into a kept object (what the poller does at each poll)', () => {
  it('rewrites it with the figures a fresh read gives, swap included or dropped', () => {
    const withSwap =
      'total_rss 10\ntotal_cache 20\ntotal_mapped_file 3\ntotal_inactive_file 4\ntotal_swap 5\n';
    const withoutSwap = 'total_rss 11\ntotal_cache 21\ntotal_mapped_file 4\ntotal_inactive_file 5\n';
    const kept = byteFigures(withSwap, 1);
    expect(kept).toEqual({ rss: 10, cache: 20, mappedFile: 3, inactiveFile: 4, swap: 5 });
    const b = Buffer.from(withoutSwap, 'latin1');
    expect(memoryStatFiguresInBytes(b, b.length, 1, kept)).toBe(kept);
    expect(kept).toEqual(textFigures(withoutSwap, 1));
    expect(kept).not.toHaveProperty('swap');
    // A file the bytes path steps aside from leaves the kept object as it was.
    const odd = Buffer.from('anon x\n', 'latin1');
    expect(memoryStatFiguresInBytes(odd, odd.length, 2, kept)).toBeUndefined();
    expect(kept).toEqual(textFigures(withoutSwap, 1));
  });
});

describe('memory.stat that is not the kernel tidy format', () => {
  it.each([
    ['empty lines', '\nanon 1\n\nfile 2\n\n', 2],
    ['no final newline', 'anon 1\nfile 2', 2],
    ['a negative value', 'anon -5\nfile 2\n', 2],
    ['a value past 2^53', 'anon 9223372036854771712\nfile 2\n', 2],
    ['a duplicate key (the last one counts)', 'anon 1\nfile 2\nanon 3\n', 2],
    ['v1 without the total_ keys', 'rss 10\ncache 20\nmapped_file 3\ninactive_file 4\nswap 0\n', 1],
    ['v1 with both', 'rss 1\ncache 2\ntotal_rss 10\ntotal_cache 20\ntotal_swap 5\n', 1],
  ] as const)('%s: read from the bytes, as the text parser reads it', (_what, text, version) => {
    const fromBytes = byteFigures(text, version);
    expect(fromBytes).toBeDefined();
    expect(fromBytes).toEqual(textFigures(text, version));
  });

  it.each([
    ['two spaces', 'anon  1\nfile 2\n'],
    ['a carriage return', 'anon 1\r\nfile 2\r\n'],
    ['a non-ASCII key', 'anon 1\nfilé 2\nfile 3\n'],
  ])('%s: left to the text parser, which accepts it', (_what, text) => {
    expect(byteFigures(text, 2)).toBeUndefined();
    expect(textFigures(text, 2)).toBeDefined();
  });

  it.each([
    ['a key missing', 'anon 1\n'],
    ['a value that is not a number', 'anon 1\nfile x\n'],
    ['a fraction', 'anon 1.5\nfile 2\n'],
    ['a line with only a key', 'anon\nfile 2\n'],
    ['a tab', 'anon\t1\nfile 2\n'],
  ])('%s: left to the text parser, which names the problem', (_what, text) => {
    expect(byteFigures(text, 2)).toBeUndefined();
    expect(parseMemoryStat(text, 2).ok).toBe(false);
  });
});
