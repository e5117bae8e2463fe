// Does a change of a cgroup v2 memory.events file raise a file-change notification, for fs.watch and for
// chokidar 5 with its default options? Run in the VM by inotify.sh:
//   node inotify-probe.mjs <memory.events> <ready-file> <stop-file>
// Watches the file (fs.watch on the file, fs.watch on its directory, chokidar on the file), creates
// <ready-file> when all are set up, and when <stop-file> appears prints every notification as JSON, each with
// the oom_kill value read from the file right after it and the stat times then.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import chokidar from '/opt/oomwatch/node_modules/chokidar/index.js';

const [file, readyFile, stopFile] = process.argv.slice(2);
const started = performance.now();
const notifications = [];
const record = (watcher, event, name) => {
  const text = fs.readFileSync(file, 'utf8');
  const st = fs.statSync(file);
  notifications.push({
    watcher,
    event,
    name: name ?? null,
    ms: Math.round(performance.now() - started),
    oom_kill: Number(/^oom_kill (\d+)$/m.exec(text)?.[1]),
    mtimeMs: st.mtimeMs,
    atimeMs: st.atimeMs,
  });
};

const initial = fs.statSync(file);
fs.watch(file, (event, name) => record('fs.watch(file)', event, name));
fs.watch(path.dirname(file), (event, name) => {
  if (name === path.basename(file)) record('fs.watch(dir)', event, name);
});
const chokidarWatcher = chokidar.watch(file);
chokidarWatcher.on('all', (event) => record('chokidar', event));
await new Promise((resolve) => chokidarWatcher.on('ready', resolve));
fs.writeFileSync(readyFile, '');

const stop = setInterval(() => {
  if (!fs.existsSync(stopFile)) return;
  clearInterval(stop);
  process.stdout.write(
    `${JSON.stringify({ node: process.version, initial: { mtimeMs: initial.mtimeMs, atimeMs: initial.atimeMs }, notifications })}\n`,
  );
  process.exit(0);
}, 100);
