'use strict';
/*
 * Run by statement-gc.test.ts under a given Node.js: prepares and drops thousands of better-sqlite3 statements
 * while garbage piles up, so that V8 finalizes incremental marking from a platform task (no JavaScript context
 * entered) with dropped statements to destroy; run with --trace-gc, the log shows "finalize incremental marking
 * via task". better-sqlite3 12 aborted there on Node.js 24.19 to 24.21 ("Assertion failed: (env) != nullptr" in
 * node::RemoveEnvironmentCleanupHook, from Statement::~Statement). Prints "ok" and exits 0 when it survives.
 */
const Database = require(process.argv[2]);
const durationMs = Number(process.argv[3] ?? 4000);
const db = new Database(':memory:');
let prepared = 0;
const until = Date.now() + durationMs;
const tick = () => {
  for (let i = 0; i < 200; i++) {
    db.prepare(`SELECT ${prepared} AS n`).get();
    prepared++;
  }
  let garbage = [];
  for (let i = 0; i < 20000; i++) garbage.push({ i, s: `x${i}` });
  garbage = null;
  if (Date.now() < until) setTimeout(tick, 1);
  else {
    db.close();
    process.stdout.write(`ok ${prepared}\n`);
  }
};
tick();
