import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { nodeDist, shippedNodeVersion } from '../helpers/node-dist';
import { IN_CI } from '../helpers/prereq';

/**
 * oomwatch prepares statements freely and leaves them to the garbage collector. better-sqlite3 12 aborted the
 * process when V8 collected a statement from a platform task on Node.js 24.19 to 24.21, which is why the image
 * was once pinned to 24.18; better-sqlite3 13 (Node-API) must survive that on the release oomwatch ships
 * (`.node-version`), on the Node.js running this suite, and on 24.21.0, the last release that aborted 12.
 */
const SCRIPT = path.join(__dirname, 'statement-gc.js');
const MODULE = path.dirname(require.resolve('better-sqlite3/package.json'));

function runtimes(): Array<[string, () => string]> {
  const list: Array<[string, () => string]> = [
    [`the suite's Node.js ${process.version}`, () => process.execPath],
  ];
  for (const v of new Set([shippedNodeVersion(), '24.21.0']))
    if (`v${v}` !== process.version)
      list.push([`Node.js v${v}`, () => path.join(nodeDist(v), 'bin', 'node')]);
  return list;
}

describe('better-sqlite3 statements collected by V8 off the JavaScript stack', () => {
  it.each(runtimes())(
    '%s: thousands of statements prepared and dropped, collected from a platform task, exit 0',
    (_name, nodeBinary) => {
      let node: string;
      try {
        node = nodeBinary();
      } catch (err) {
        // The registry is needed to fetch a release; outside CI its absence skips, under CI it fails.
        if (IN_CI) throw err;
        process.stderr.write(`skipped: cannot fetch the Node.js release: ${(err as Error).message}\n`);
        return;
      }
      const r = spawnSync(node, ['--trace-gc', SCRIPT, MODULE, '4000'], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      const stdout = r.stdout ?? '';
      expect({ status: r.status, signal: r.signal, stderr: (r.stderr ?? '').slice(-2000) }).toEqual({
        status: 0,
        signal: null,
        stderr: '',
      });
      expect(stdout).toMatch(/^ok \d+$/m);
      expect(Number(/^ok (\d+)$/m.exec(stdout)?.[1])).toBeGreaterThan(10_000);
      // The condition that aborted better-sqlite3 12 happened during the run.
      expect(stdout).toMatch(/finalize incremental marking via task/);
    },
    180_000,
  );
});
