import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectLayout } from '../../src/cgroup/layout';
import { parseCount, parseLimit } from '../../src/cgroup/parse';
import { CgroupReader, FdBudget } from '../../src/cgroup/reader';

/**
 * The reader takes files that hold one integer straight from the bytes, and hands anything else to the text
 * parsers. Whatever a file holds, the sample must be what parseCount / parseLimit make of it: the same value,
 * or the field left out with a parse error. Checked on a throwaway v2 container (regular files, the 6.1
 * formats: Documentation/admin-guide/cgroup-v2.rst) and through kept-open descriptors and transient reads.
 */
const CONTENTS: Array<[string, string]> = [
  ['zero', '0\n'],
  ['a byte count', '1282048\n'],
  ['fifteen digits', '123456789012345\n'],
  ['sixteen digits (past the exact range of the byte reader)', '1234567890123456\n'],
  ['the v1 unlimited sentinel, 4 KiB pages', '9223372036854771712\n'],
  ['the v1 unlimited sentinel, 64 KiB pages', '9223372036854710272\n'],
  ['just under 2^62', '4611686018427387903\n'],
  ['2^62', '4611686018427387904\n'],
  ['twenty digits', '12345678901234567890\n'],
  ['v2 "max"', 'max\n'],
  ['-1 (old tooling writing unlimited)', '-1\n'],
  ['no newline', '4096'],
  ['spaces around', '  4096 \n'],
  ['a carriage return', '4096\r\n'],
  ['empty', ''],
  ['a newline only', '\n'],
  ['not a number', 'twelve\n'],
  ['a fraction', '1.5\n'],
  ['digits then garbage', '12ab\n'],
];

const V2_REQUIRED: Record<string, string> = {
  'memory.stat': 'anon 0\nfile 0\nfile_mapped 0\ninactive_file 0\n',
  'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
};

describe.each([
  ['kept-open descriptors', 64],
  ['open, read and close each time (no descriptor budget)', 0],
])('integer files read through %s', (_how, budget) => {
  let root: string;
  const rel = `/system.slice/docker-${'ab'.repeat(32)}.scope`;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-reader-integers-'));
    fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu io memory pids\n');
    fs.mkdirSync(path.join(root, rel), { recursive: true });
    for (const [file, text] of Object.entries(V2_REQUIRED))
      fs.writeFileSync(path.join(root, rel, file), text);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it.each(CONTENTS)('%s', (_what, text) => {
    // memory.current is a count, memory.max a limit: one file of each kind, the same text in both.
    fs.writeFileSync(path.join(root, rel, 'memory.current'), text);
    fs.writeFileSync(path.join(root, rel, 'memory.max'), text);
    const reader = new CgroupReader(detectLayout(root), rel, new FdBudget(budget));
    const { sample, errors } = reader.read(1);
    reader.close();

    const count = parseCount(text);
    const limit = parseLimit(text);
    expect(sample.usage).toBe(count.ok ? count.value : undefined);
    expect(sample.limit).toBe(limit.ok ? limit.value : undefined);
    const parseErrors = errors.filter((e) => e.kind === 'parse').map((e) => e.file);
    expect(parseErrors).toEqual([
      ...(count.ok ? [] : ['memory.current']),
      ...(limit.ok ? [] : ['memory.max']),
    ]);
  });
});
