#!/usr/bin/env node
'use strict';
/**
 * The image's HEALTHCHECK: GET /healthz on the address oomwatch listens on, with Node.js itself (the
 * runtime image has no curl and no shell). oomwatch is PID 1 in its container, so its own command line
 * (/proc/1/cmdline) tells the --listen address and whether --web-config may turn on TLS; the
 * OOMWATCH_LISTEN and OOMWATCH_WEB_CONFIG environment variables are read the same way oomwatch reads
 * them. /healthz never asks for credentials. Exit 0 healthy, 1 not.
 */
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');

function flagValue(args, name) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}` && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return undefined;
}

function oomwatchArgs() {
  try {
    return fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

const args = oomwatchArgs();
const listen = flagValue(args, 'listen') ?? process.env.OOMWATCH_LISTEN ?? '0.0.0.0:9797';
const webConfig = flagValue(args, 'web-config') ?? process.env.OOMWATCH_WEB_CONFIG;

const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
if (!m) {
  process.stderr.write(`healthcheck: cannot read the --listen address "${listen}"\n`);
  process.exit(1);
}
const bound = m[1] ?? m[2];
// A wildcard address is reached on loopback; a specific one is used as it is.
const host = bound === '' || bound === '0.0.0.0' ? '127.0.0.1' : bound === '::' ? '::1' : bound;
let tls = false;
if (webConfig) {
  try {
    tls = /^\s*tls_server_config\s*:/m.test(fs.readFileSync(webConfig, 'utf8'));
  } catch {
    // oomwatch itself refuses to start without its web config; nothing to probe then
  }
}

// A local liveness probe: the certificate is for the scrapers' names, not for 127.0.0.1.
const client = tls ? https : http;
const req = client.get(
  { host, port: Number(m[3]), path: '/healthz', timeout: 4000, rejectUnauthorized: false },
  (res) => {
    res.resume();
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
req.on('timeout', () => req.destroy(new Error('timed out after 4 s')));
req.on('error', (err) => {
  process.stderr.write(`healthcheck: GET /healthz on ${host}:${m[3]} failed: ${err.message}\n`);
  process.exit(1);
});
