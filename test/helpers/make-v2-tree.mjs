#!/usr/bin/env node
/**
 * Writes the cgroup v2 fixture tree, test/fixtures/cgroup/v2, for the saved-scrape test.
 *
 * This machine's kernel binds the memory controller to v1, so a v2 tree cannot be copied from it the way
 * capture-v1-tree.sh copies the v1 one: it is made from what the VM's v2 kernel wrote (below, "From a real
 * capture"). Without --template, each file is instead written in the format of Linux 6.1 (Debian 12's
 * kernel, the one the VM tests boot), as mm/memcontrol.c and kernel/sched/psi.c of that release print it:
 *   memory.stat     memory_stat_format(): the memory_stats[] table in order, "slab" after
 *                   slab_unreclaimable, then pgscan, pgsteal and memcg_vm_event_stat[] without pgpgin/pgpgout
 *                   (key names cross-checked against the strings of /boot/vmlinuz-6.1.0-*-amd64);
 *   memory.events   memory_events_show(): low, high, max, oom, oom_kill, oom_group_kill (5.17+);
 *   memory.swap.events  swap_events_show(): high, max, fail;
 *   *.pressure      psi_show(): "some avg10=%lu.%02lu avg60=... avg300=... total=%llu", then "full ...";
 *   limits          "max" or a byte count (memory.max, .high, .low, .min, .swap.max, .swap.high).
 * The numbers are chosen per container (below) and kept consistent (memory.current is anon + file +
 * kernel). Directory names follow DESIGN.md's layouts.
 *
 * From a real capture (how the committed tree is made): npm run fixtures:v2 (test/vm/capture-fixtures.ts)
 * writes test/fixtures/cgroup/v2-captured/, cgroup v2 roots from the VM's 6.1 kernel and containers.json
 * naming each captured container's situation. Then
 *   node test/helpers/make-v2-tree.mjs --template test/fixtures/cgroup/v2-captured
 * keeps the paths below and fills them with the kernel's files, verbatim:
 *   - the root: the captured root's files (layouts/);
 *   - a container: every file of the captured container named by its `captured` field, the one in the same
 *     situation (limited or not, after which kind of OOM);
 *   - any other cgroup: the captured cgroup at the same path where the capture has one (docker, system.slice,
 *     kubepods.slice, kubepods-burstable.slice), else the captured file set with the values a new, empty
 *     cgroup shows (services, sessions, conmon scopes, sub-cgroups: not captured, never read by oomwatch);
 *   - a cgroup with child cgroups delegates memory to them (cgroup.subtree_control as the capture's parents).
 * The numbers above are then unused. Then regenerate the saved scrape on purpose:
 *   npm run build && UPDATE_SCRAPES=1 npx jest --selectProjects unit --testPathPatterns saved-scrape
 *
 * --template with one captured container cgroup (a directory without containers.json) keeps the numbers
 * above instead: every file of that cgroup is copied into every container with only these values substituted
 * (same keys, same order; a key the kernel wrote that is not listed here is 0).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'fixtures', 'cgroup', 'v2');
const templateArg = process.argv.indexOf('--template');
const templateGiven = templateArg > 0 ? process.argv[templateArg + 1] : undefined;
/** A capture root (it has containers.json): every file comes from the capture. */
const captureRoot =
  templateGiven !== undefined && fs.existsSync(path.join(templateGiven, 'containers.json'))
    ? templateGiven
    : undefined;
/** One captured container cgroup: its files, with the values below substituted. */
const template = captureRoot === undefined ? templateGiven : undefined;

const MiB = 1024 * 1024;
const cid = (name) => createHash('sha256').update(`oomwatch-fixture-${name}`).digest('hex');
const podUid = (name) => {
  const h = createHash('sha256').update(`oomwatch-fixture-pod-${name}`).digest('hex').slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const underscored = (uid) => uid.replace(/-/g, '_');

/** A container's memory as the kernel would account it; everything not given is 0 or unlimited. */
function cgroup(spec) {
  return {
    anon: 0,
    file: 0,
    inactiveFile: 0,
    fileMapped: 0,
    max: 'max',
    high: 'max',
    low: 0,
    swapMax: 'max',
    swap: 0,
    peak: undefined,
    events: {},
    oomGroup: 0,
    pressure: [0, 0],
    ...spec,
  };
}

const burstableUid = podUid('v2-burstable');
const guaranteedUid = podUid('v2-guaranteed');
const besteffortUid = podUid('v2-besteffort');

/**
 * Paths relative to the root; `null` marks a cgroup that is not a container (written with zero usage).
 * `captured` names the container of the capture (containers.json) in the same situation, whose files a
 * container gets when the tree is made from a capture.
 */
const TREE = {
  [`docker/${cid('web')}`]: cgroup({
    captured: 'running',
    anon: 22 * MiB,
    file: 6 * MiB,
    inactiveFile: 4 * MiB,
    fileMapped: 1 * MiB,
    max: 256 * MiB,
    low: 128 * MiB,
    swapMax: 0,
    peak: 31 * MiB,
    pressure: [1520, 310],
  }),
  [`docker/${cid('web')}/sub`]: null,
  [`docker/${cid('batch')}`]: cgroup({
    captured: 'unlimited',
    anon: 8 * MiB,
    file: 512 * 1024,
    inactiveFile: 512 * 1024,
    peak: 9 * MiB,
  }),
  [`docker/${cid('oom')}`]: cgroup({
    captured: 'oomed',
    anon: 0,
    file: 4096,
    max: 32 * MiB,
    swapMax: 0,
    peak: 32 * MiB,
    events: { max: 57, oom: 2, oom_kill: 2 },
    pressure: [48210, 40100],
  }),
  [`system.slice/docker-${cid('api')}.scope`]: cgroup({
    captured: 'running',
    anon: 15 * MiB,
    file: 3 * MiB,
    inactiveFile: 2 * MiB,
    max: 128 * MiB,
    high: 120 * MiB,
    swapMax: 128 * MiB,
    swap: 2 * MiB,
    peak: 121 * MiB,
    events: { high: 14 },
    pressure: [9000, 1200],
  }),
  'system.slice/docker.service': null,
  'system.slice/containerd.service': null,
  'init.scope': null,
  'user.slice/user-1000.slice/session-3.scope': null,
  [`user.slice/user-1000.slice/user@1000.service/user.slice/docker-${cid('rootless')}.scope`]: cgroup({
    captured: 'running',
    anon: 5 * MiB,
    file: 1 * MiB,
    inactiveFile: 1 * MiB,
    max: 64 * MiB,
    peak: 7 * MiB,
  }),
  [`user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${cid('rootless-podman')}.scope`]: cgroup({
    captured: 'victim',
    anon: 3 * MiB,
    file: 256 * 1024,
    peak: 4 * MiB,
  }),
  [`user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-${cid('rootless-podman')}.scope`]:
    null,
  [`machine.slice/libpod-${cid('podman')}.scope`]: cgroup({
    captured: 'oomed',
    anon: 7 * MiB,
    file: 2 * MiB,
    inactiveFile: 1 * MiB,
    max: 80 * MiB,
    peak: 10 * MiB,
  }),
  // podman --systemd=always: the container's processes live in a "container" sub-cgroup of its scope
  [`machine.slice/libpod-${cid('podman')}.scope/container`]: null,
  [`machine.slice/libpod-conmon-${cid('podman')}.scope`]: null,
  [`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${underscored(burstableUid)}.slice/cri-containerd-${cid('v2-k8s-app')}.scope`]:
    cgroup({
      captured: 'group',
      anon: 30 * MiB,
      file: 2 * MiB,
      inactiveFile: 1 * MiB,
      max: 64 * MiB,
      swapMax: 0,
      peak: 64 * MiB,
      // memory.oom.group=1 (Kubernetes 1.28+ on v2): one OOM kills the whole container, three processes
      oomGroup: 1,
      events: { max: 9, oom: 1, oom_kill: 3, oom_group_kill: 1 },
      pressure: [20400, 15000],
    }),
  [`kubepods.slice/kubepods-pod${underscored(guaranteedUid)}.slice/crio-${cid('v2-crio')}.scope`]: cgroup({
    captured: 'oomed',
    anon: 10 * MiB,
    file: 1 * MiB,
    max: 48 * MiB,
    swapMax: 0,
    peak: 12 * MiB,
  }),
  [`kubepods.slice/kubepods-pod${underscored(guaranteedUid)}.slice/crio-conmon-${cid('v2-crio')}.scope`]:
    null,
  [`kubepods/besteffort/pod${besteffortUid}/${cid('v2-besteffort')}`]: cgroup({
    captured: 'podlimited',
    anon: 2 * MiB,
    file: 1 * MiB,
    inactiveFile: 1 * MiB,
    peak: 3 * MiB,
  }),
};

// --- formats (Linux 6.1) -------------------------------------------------------------------------------

const limit = (v) => (v === 'max' ? 'max\n' : `${v}\n`);

/** memory.stat as 6.1's memory_stat_format() writes it. */
function memoryStat(c) {
  const kernel = c.anon + c.file === 0 ? 0 : 1327104;
  const v = {
    anon: c.anon,
    file: c.file,
    kernel,
    kernel_stack: kernel === 0 ? 0 : 98304,
    pagetables: kernel === 0 ? 0 : 405504,
    sec_pagetables: 0,
    percpu: kernel === 0 ? 0 : 5760,
    sock: 0,
    vmalloc: 0,
    shmem: 0,
    zswap: 0,
    zswapped: 0,
    file_mapped: c.fileMapped,
    file_dirty: 0,
    file_writeback: 0,
    swapcached: 0,
    anon_thp: 0,
    file_thp: 0,
    shmem_thp: 0,
    inactive_anon: c.anon,
    active_anon: 0,
    inactive_file: c.inactiveFile,
    active_file: c.file - c.inactiveFile,
    unevictable: 0,
    slab_reclaimable: kernel === 0 ? 0 : 311296,
    slab_unreclaimable: kernel === 0 ? 0 : 398112,
    slab: kernel === 0 ? 0 : 709408,
    workingset_refault_anon: 0,
    workingset_refault_file: 0,
    workingset_activate_anon: 0,
    workingset_activate_file: 0,
    workingset_restore_anon: 0,
    workingset_restore_file: 0,
    workingset_nodereclaim: 0,
    pgscan: 0,
    pgsteal: 0,
    pgscan_kswapd: 0,
    pgscan_direct: 0,
    pgsteal_kswapd: 0,
    pgsteal_direct: 0,
    pgfault: Math.round(c.anon / 4096) + 412,
    pgmajfault: 0,
    pgrefill: 0,
    pgactivate: 0,
    pgdeactivate: 0,
    pglazyfree: 0,
    pglazyfreed: 0,
    zswpin: 0,
    zswpout: 0,
    thp_fault_alloc: 0,
    thp_collapse_alloc: 0,
  };
  return v;
}

function memoryEvents(c) {
  const e = { low: 0, high: 0, max: 0, oom: 0, oom_kill: 0, oom_group_kill: 0, ...c.events };
  return e;
}

const keyed = (obj) =>
  Object.entries(obj)
    .map(([k, v]) => `${k} ${v}\n`)
    .join('');
const psi = ([some, full]) =>
  `some avg10=0.00 avg60=0.00 avg300=0.00 total=${some}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=${full}\n`;

/** Every file of one container cgroup, name -> content. */
function containerFiles(c) {
  const current = c.anon + c.file + memoryStat(c).kernel;
  const files = {
    'cgroup.controllers': 'memory pids\n',
    'cgroup.subtree_control': '',
    'memory.current': `${current}\n`,
    'memory.min': '0\n',
    'memory.low': `${c.low}\n`,
    'memory.high': limit(c.high),
    'memory.max': limit(c.max),
    'memory.peak': `${c.peak ?? current}\n`,
    'memory.oom.group': `${c.oomGroup}\n`,
    'memory.events': keyed(memoryEvents(c)),
    'memory.events.local': keyed(memoryEvents(c)),
    'memory.stat': keyed(memoryStat(c)),
    'memory.swap.current': `${c.swap}\n`,
    'memory.swap.high': 'max\n',
    'memory.swap.max': limit(c.swapMax),
    'memory.swap.events': keyed({ high: 0, max: 0, fail: 0 }),
    'memory.zswap.current': '0\n',
    'memory.zswap.max': 'max\n',
    'memory.pressure': psi(c.pressure),
    'cpu.pressure': psi([0, 0]),
    'io.pressure': psi([0, 0]),
  };
  return template === undefined ? files : fromTemplate(files);
}

/**
 * The real kernel's files, with this fixture's values put in: a keyed file keeps the template's keys and
 * order (values of keys set above replace the template's), a single-value file takes the value above.
 */
function fromTemplate(files) {
  const outFiles = {};
  for (const name of fs.readdirSync(template)) {
    const full = path.join(template, name);
    if (!fs.statSync(full).isFile()) continue;
    const real = fs.readFileSync(full, 'latin1');
    const ours = files[name];
    if (ours === undefined) {
      outFiles[name] = real;
      continue;
    }
    const ourKeys = new Map(
      ours
        .split('\n')
        .filter((l) => / \d+$/.test(l))
        .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
    );
    const isKeyed = real.split('\n').every((l) => l === '' || /^[a-z_]+ \d+$/.test(l));
    outFiles[name] = isKeyed
      ? real
          .split('\n')
          .map((l) =>
            l === '' ? l : `${l.slice(0, l.indexOf(' '))} ${ourKeys.get(l.slice(0, l.indexOf(' '))) ?? 0}`,
          )
          .join('\n')
      : ours;
  }
  return outFiles;
}

// --- from a capture ------------------------------------------------------------------------------------

/** The captured root whose cgroups sit above the containers (the other, global-oom/, holds one victim). */
const CAPTURED_ROOT_TREE = 'layouts';
/** Files where a new cgroup shows "max"; every other single-value file shows 0. */
const UNLIMITED_BY_DEFAULT = new Set([
  'memory.max',
  'memory.high',
  'memory.swap.max',
  'memory.swap.high',
  'memory.zswap.max',
]);

/** Every regular file of a captured cgroup directory, name -> bytes, as the kernel wrote them. */
function filesOf(dir) {
  const files = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true }))
    if (e.isFile()) files[e.name] = fs.readFileSync(path.join(dir, e.name));
  return files;
}

/** containers.json of the capture: name -> directory of that container's files. */
function capturedContainers() {
  const list = JSON.parse(fs.readFileSync(path.join(captureRoot, 'containers.json'), 'utf8'));
  return new Map(list.map((c) => [c.name, path.join(captureRoot, c.tree, c.cgroup)]));
}

/**
 * A new, empty cgroup with the captured file set: the kernel's keys in its order with every value 0, no
 * stall time, limits "max". Used only for cgroups the capture has nothing for; oomwatch never reads them.
 */
function emptyLike(capturedDir) {
  const files = {};
  for (const [name, bytes] of Object.entries(filesOf(capturedDir))) {
    const text = bytes.toString('latin1');
    if (name.startsWith('cgroup.')) files[name] = bytes;
    else if (name.endsWith('.pressure')) files[name] = psi([0, 0]);
    else if (/^[a-z_]+ \d+\n/.test(text)) files[name] = text.replace(/ \d+$/gm, ' 0');
    else files[name] = UNLIMITED_BY_DEFAULT.has(name) ? 'max\n' : '0\n';
  }
  return files;
}

/** What a cgroup of the tree holds when the tree is made from a capture (see the header). */
function capturedFiles(rel, spec, captured, empty) {
  if (spec !== null) {
    const dir = captured.get(spec.captured);
    if (dir === undefined)
      throw new Error(
        `${rel}: the capture ${captureRoot} has no container named "${spec.captured}" in containers.json; ` +
          'set its `captured` field to one that is there, or capture again with npm run fixtures:v2',
      );
    return filesOf(dir);
  }
  const same = path.join(captureRoot, CAPTURED_ROOT_TREE, rel);
  return fs.existsSync(same) ? filesOf(same) : empty;
}

/** The directories under `dir` that have child cgroups. */
function parentsUnder(dir) {
  const subdirs = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
  return subdirs.length === 0 ? [] : [dir, ...subdirs.flatMap((e) => parentsUnder(path.join(dir, e.name)))];
}

function writeFromCapture() {
  const captured = capturedContainers();
  const empty = emptyLike([...captured.values()][0]);
  const root = path.join(captureRoot, CAPTURED_ROOT_TREE);
  for (const [name, bytes] of Object.entries(filesOf(root))) fs.writeFileSync(path.join(out, name), bytes);
  const sources = [];
  for (const [rel, spec] of Object.entries(TREE)) {
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      const dir = path.join(out, sub);
      if (fs.existsSync(dir) && i < parts.length) continue;
      fs.mkdirSync(dir, { recursive: true });
      const leaf = i === parts.length ? spec : null;
      for (const [name, content] of Object.entries(capturedFiles(sub, leaf, captured, empty)))
        fs.writeFileSync(path.join(dir, name), content);
      if (leaf !== null) sources.push(`${sub} <- ${leaf.captured}`);
    }
  }
  // A cgroup with children has memory enabled for them, as every parent in the capture has.
  const delegation = fs.readFileSync(path.join(root, 'cgroup.subtree_control'));
  for (const dir of parentsUnder(out).slice(1))
    fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), delegation);
  const from = path.relative(path.join(here, '..', '..'), path.resolve(captureRoot));
  fs.writeFileSync(
    path.join(out, 'GENERATED'),
    `Written by test/helpers/make-v2-tree.mjs from the capture ${from} (its CAPTURED says when and how).\n` +
      "Files of the 6.1 kernel, verbatim: the root's, those of the cgroups above the containers that the\n" +
      "capture has at the same path, and each container's from the captured container named below\n" +
      '(containers.json). A cgroup the capture has nothing for holds the captured file set with the values\n' +
      'of a new, empty cgroup; a cgroup with children delegates memory to them, as in the capture.\n' +
      sources.map((l) => `  ${l}\n`).join(''),
  );
}

const empty = cgroup({});

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
if (captureRoot !== undefined) {
  writeFromCapture();
  console.log(`make-v2-tree: wrote ${out} from the capture ${captureRoot}`);
  process.exit(0);
}
// The root: the controllers a v2 host enables, and the host-level files a root cgroup has (6.1 has no
// memory.current or memory.max at the root).
fs.writeFileSync(path.join(out, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
fs.writeFileSync(path.join(out, 'cgroup.subtree_control'), 'cpuset cpu io memory pids\n');
fs.writeFileSync(
  path.join(out, 'memory.stat'),
  keyed(memoryStat(cgroup({ anon: 180 * MiB, file: 420 * MiB }))),
);
fs.writeFileSync(path.join(out, 'memory.pressure'), psi([90210, 41000]));
fs.writeFileSync(path.join(out, 'cpu.pressure'), psi([0, 0]));
fs.writeFileSync(path.join(out, 'io.pressure'), psi([0, 0]));

for (const [rel, spec] of Object.entries(TREE)) {
  // Every ancestor is a cgroup too (slices, pods, QoS levels): each gets a full file set.
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const dir = path.join(out, ...parts.slice(0, i));
    if (fs.existsSync(dir) && i < parts.length) continue;
    fs.mkdirSync(dir, { recursive: true });
    const files = containerFiles(i === parts.length && spec !== null ? spec : empty);
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  }
}
fs.writeFileSync(
  path.join(out, 'GENERATED'),
  `Written by test/helpers/make-v2-tree.mjs${template ? ` from the template ${template}` : ' in the Linux 6.1 formats'}.\n`,
);
console.log(`make-v2-tree: wrote ${out}`);
