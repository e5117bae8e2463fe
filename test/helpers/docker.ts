import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Prerequisite } from './prereq';

/**
 * The real Docker Engine for the suite. .ci/run starts dockerd before `npm test`; on a developer machine
 * the suite starts it itself when it is installed and we are root (see README, "How oomwatch is tested").
 * No registry is reachable: the test image is imported from a tar of a directory holding a static
 * busybox and its applet links.
 */
const run = promisify(execFile);
export const DOCKER_SOCKET = '/var/run/docker.sock';
export const TEST_IMAGE = 'oomwatch-test/busybox:latest';
/** Label on every container the suite creates, so leftovers can be cleaned. */
export const TEST_LABEL = 'oomwatch.test=1';

function dockerResponds(): boolean {
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], {
      stdio: 'pipe',
      timeout: 10_000,
    });
    return true;
  } catch {
    return false;
  }
}

/** Start dockerd as DESIGN.md says (no iptables, no bridge) unless it already answers. */
export function ensureDockerd(): Prerequisite {
  if (dockerResponds()) return { ok: true, why: '' };
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => fs.existsSync(p));
  if (!dockerd || process.getuid?.() !== 0) {
    return {
      ok: false,
      why: 'needs a Docker Engine: apt-get install -y docker.io, then run as root (.ci/run starts dockerd)',
    };
  }
  // One dockerd for the whole run, started detached so it outlives this jest worker.
  const lock = path.join(os.tmpdir(), 'oomwatch-test-dockerd.lock');
  try {
    execFileSync(
      'flock',
      [
        lock,
        'sh',
        '-c',
        `docker version >/dev/null 2>&1 || (nohup ${dockerd} --iptables=false --ip6tables=false --bridge=none >/tmp/oomwatch-test-dockerd.log 2>&1 &)`,
      ],
      {
        stdio: 'pipe',
      },
    );
  } catch {
    // fall through to the wait below, which reports the failure
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (dockerResponds()) return { ok: true, why: '' };
    execFileSync('sleep', ['0.5']);
  }
  return { ok: false, why: 'dockerd did not come up in 30 s (see /tmp/oomwatch-test-dockerd.log)' };
}

/** Build the busybox test image once (idempotent, safe to call from several suites). */
export function ensureTestImage(): void {
  try {
    execFileSync('docker', ['image', 'inspect', TEST_IMAGE], { stdio: 'pipe' });
    return;
  } catch {
    // not built yet
  }
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!busybox) throw new Error('needs busybox-static: apt-get install -y busybox-static');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-img-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(busybox, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(path.join(dir, 'bin', 'busybox'), ['--list'], { encoding: 'utf8' }).split(
    '\n',
  );
  for (const a of applets) if (a && a !== 'busybox') fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  fs.mkdirSync(path.join(dir, 'tmp'), { mode: 0o1777 });
  const tar = path.join(dir, '..', `${path.basename(dir)}.tar`);
  execFileSync('tar', ['-C', dir, '-cf', tar, '.']);
  execFileSync('docker', ['import', '-c', 'ENV PATH=/bin', tar, TEST_IMAGE], { stdio: 'pipe' });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(tar, { force: true });
}

/** A shell snippet that allocates about `mb` MB of anonymous memory and holds it. */
export function allocateShell(mb: number): string {
  // tr turns zeros into 'a's inside a shell variable: the shell's heap grows to hold them.
  return `x=$(head -c ${mb * 1024 * 1024} /dev/zero | tr '\\0' a); sleep 3600`;
}

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** `docker run -d` with the suite's defaults (no network, the test label); returns the full id. */
export async function runContainer(opts: {
  name?: string;
  args?: string[];
  cmd: string;
  rm?: boolean;
}): Promise<string> {
  const args = ['run', '-d', '--network=none', '--label', TEST_LABEL];
  if (opts.name) args.push('--name', opts.name);
  if (opts.rm) args.push('--rm');
  args.push(...(opts.args ?? []), TEST_IMAGE, 'sh', '-c', opts.cmd);
  return docker(...args);
}

export async function removeTestContainers(): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}`)).split('\n').filter(Boolean);
  if (ids.length > 0) await docker('rm', '-f', ...ids).catch(() => undefined);
}

/** Wait until `docker wait` returns; gives the exit code. */
export async function waitExit(id: string): Promise<number> {
  return Number(await docker('wait', id));
}
