#!/usr/bin/env node
/**
 * Writes the cgroup v2 fixture tree, test/fixtures/cgroup/v2, for the saved-scrape test.
 *
 * This machine's kernel binds the memory controller to v1, so a v2 tree cannot be copied from it the way
 * capture-v1-tree.sh copies the v1 one. Each file is written in the format of Linux 6.1 (Debian 12's
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
 * Swapping in a real capture: once test/fixtures/cgroup/v2-captured/ holds the files a real v2 kernel wrote
 * for one container cgroup, run
 *   node test/cgroup/make-v2-tree.mjs --template test/fixtures/cgroup/v2-captured/<cgroup dir>
 * Every file of the template is then copied into every container, with only the values below substituted
 * (same keys, same order, plus every key the kernel wrote that is not listed here). Then regenerate the
 * saved scrape on purpose: UPDATE_SCRAPES=1 npx jest test/server/saved-scrape.test.ts
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'fixtures', 'cgroup', 'v2');
const templateArg = process.argv.indexOf('--template');
const template = templateArg > 0 ? process.argv[templateArg + 1] : undefined;

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

/** Paths relative to the root; `null` marks a cgroup that is not a container (written with zero usage). */
const TREE = {
  [`docker/${cid('web')}`]: cgroup({
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
    anon: 8 * MiB,
    file: 512 * 1024,
    inactiveFile: 512 * 1024,
    peak: 9 * MiB,
  }),
  [`docker/${cid('oom')}`]: cgroup({
    anon: 0,
    file: 4096,
    max: 32 * MiB,
    swapMax: 0,
    peak: 32 * MiB,
    events: { max: 57, oom: 2, oom_kill: 2 },
    pressure: [48210, 40100],
  }),
  [`system.slice/docker-${cid('api')}.scope`]: cgroup({
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
    anon: 5 * MiB,
    file: 1 * MiB,
    inactiveFile: 1 * MiB,
    max: 64 * MiB,
    peak: 7 * MiB,
  }),
  [`user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${cid('rootless-podman')}.scope`]: cgroup({
    anon: 3 * MiB,
    file: 256 * 1024,
    peak: 4 * MiB,
  }),
  [`user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-${cid('rootless-podman')}.scope`]:
    null,
  [`machine.slice/libpod-${cid('podman')}.scope`]: cgroup({
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
    anon: 10 * MiB,
    file: 1 * MiB,
    max: 48 * MiB,
    swapMax: 0,
    peak: 12 * MiB,
  }),
  [`kubepods.slice/kubepods-pod${underscored(guaranteedUid)}.slice/crio-conmon-${cid('v2-crio')}.scope`]:
    null,
  [`kubepods/besteffort/pod${besteffortUid}/${cid('v2-besteffort')}`]: cgroup({
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

const empty = cgroup({});

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
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
  `Written by test/cgroup/make-v2-tree.mjs${template ? ` from the template ${template}` : ' in the Linux 6.1 formats'}.\n`,
);
console.log(`make-v2-tree: wrote ${out}`);
