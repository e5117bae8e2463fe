import * as path from 'node:path';
import { flatString } from '../src/flat-string';

describe('flatString', () => {
  it.each([
    [''],
    ['/sys/fs/cgroup/memory/kubepods/burstable/pod0d2f/3f1c'],
    [path.join('/host/sys/fs/cgroup', 'memory', '/docker/', 'a'.repeat(64))],
    ['id="0be4",name="web",image="nginx:1.27"'],
    ['système/容器/🐳'],
  ])('keeps the text of %j', (s) => {
    expect(flatString(s)).toBe(s);
  });

  it('keeps a string UTF-8 cannot carry (a lone surrogate) as it is, instead of replacing the character', () => {
    const odd = 'name-\ud800-end';
    expect(flatString(odd)).toBe(odd);
  });
});
