import * as fs from 'node:fs';
import * as path from 'node:path';
import { oomControlInBytes, parseOomControl } from '../../src/cgroup/oom-control';
import { FIXTURES as ALL_FIXTURES } from '../helpers/paths';

/**
 * memory.oom_control straight from its bytes (the reader's path for a well-formed file) must give what
 * parseOomControl gives on the text: on every file of the v1 fixture trees (copied from a real kernel) and
 * on the odd ones, where the byte path may only step aside.
 */
const FIXTURES = path.join(ALL_FIXTURES, 'cgroup');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.name === 'memory.oom_control') out.push(p);
  }
  return out;
}

const fromBytes = (text: string) => {
  const bytes = Buffer.from(text, 'latin1');
  return oomControlInBytes(Buffer.concat([bytes, Buffer.from('oom_kill 99\n')]), bytes.length);
};
const fromText = (text: string) => {
  const r = parseOomControl(text);
  return r.ok ? r.value : undefined;
};

describe.each(['v1', 'hybrid'])('memory.oom_control of the %s fixture tree', (mode) => {
  const list = files(path.join(FIXTURES, mode));
  it('has files to check', () => expect(list.length).toBeGreaterThan(0));
  it.each(list.map((f) => [path.relative(FIXTURES, f), f]))('%s: bytes and text agree', (_name, file) => {
    const text = fs.readFileSync(file, 'latin1');
    expect(fromBytes(text)).toBeDefined();
    expect(fromBytes(text)).toEqual(fromText(text));
  });
});

describe('memory.oom_control that is not the kernel tidy format', () => {
  it.each([
    ['a kernel before 4.13 (no oom_kill)', 'oom_kill_disable 0\nunder_oom 0\n'],
    ['killer disabled and under OOM', 'oom_kill_disable 1\nunder_oom 1\noom_kill 7\n'],
  ])('%s: read from the bytes, as the text parser reads it', (_what, text) => {
    expect(fromBytes(text)).toBeDefined();
    expect(fromBytes(text)).toEqual(fromText(text));
  });

  it.each([
    ['under_oom missing', 'oom_kill_disable 0\noom_kill 1\n'],
    ['a bad value', 'oom_kill_disable 0\nunder_oom x\noom_kill 1\n'],
    ['a tab', 'oom_kill_disable\t0\nunder_oom 0\n'],
    ['a carriage return', 'oom_kill_disable 0\r\nunder_oom 0\r\n'],
  ])('%s: left to the text parser', (_what, text) => {
    expect(fromBytes(text)).toBeUndefined();
  });
});
