#!/usr/bin/env node
/**
 * Writes the Kubernetes systemd-driver cgroup v2 fixture trees:
 *   test/fixtures/cgroup/k8s-systemd-containerd/   a containerd node
 *   test/fixtures/cgroup/k8s-systemd-crio/         a CRI-O node
 *
 * No Kubernetes node runs here, so the trees are built, not captured. Directory names are the kubelet's
 * systemd cgroup driver (pkg/kubelet/cm/cgroup_manager_linux.go: /kubepods/burstable/pod<uid> becomes
 * kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, - escaped as _>.slice; Guaranteed pods
 * sit directly in kubepods.slice) and the runtimes' scope names: containerd's CRI plugin with
 * SystemdCgroup=true "cri-containerd-<id>.scope", CRI-O "crio-<id>.scope" beside its monitor's
 * "crio-conmon-<id>.scope". Every pod has its sandbox (pause) container's scope too, as on a real node.
 *
 * Each file of a container cgroup is copied from a container of test/fixtures/cgroup/v2 (written in the
 * Linux 6.1 formats by test/helpers/make-v2-tree.mjs: keys and order as the kernel prints them), with the
 * figures below substituted and kept consistent (memory.current = anon + file + kernel).
 *
 *   node test/helpers/make-k8s-cgroup-trees.mjs
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures', 'cgroup');
const templateRoot = path.join(fixtures, 'v2');
const template = path.join(
  templateRoot,
  'kubepods.slice/kubepods-podcdad38da_3e07_ce38_5860_47775b7eb856.slice/crio-661ee781a8bf961f3de6184d3e5119c12bab628fda5002574c1e0ce468f0e2f4.scope',
);

const MiB = 1024 * 1024;
export const cid = (name) => createHash('sha256').update(`oomwatch-k8s-fixture-${name}`).digest('hex');
export const podUid = (name) => {
  const h = createHash('sha256').update(`oomwatch-k8s-fixture-pod-${name}`).digest('hex').slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const underscored = (uid) => uid.replace(/-/g, '_');

/** Pods of a node: QoS class, UID as in the cgroup name, containers with their memory. */
const PODS = [
  {
    name: 'cart',
    qos: 'burstable',
    containers: [
      { name: 'app', anon: 180 * MiB, file: 20 * MiB, max: 256 * MiB, oomKills: 2 },
      { name: 'log-shipper', anon: 30 * MiB, file: 4 * MiB, max: 64 * MiB, oomKills: 0 },
    ],
  },
  {
    name: 'db',
    qos: 'guaranteed',
    containers: [{ name: 'postgres', anon: 600 * MiB, file: 300 * MiB, max: 1024 * MiB, oomKills: 0 }],
  },
  {
    name: 'report',
    qos: 'besteffort',
    containers: [{ name: 'report', anon: 90 * MiB, file: 10 * MiB, max: 'max', oomKills: 1 }],
  },
  // A static pod: the kubelet's UID is the 32-hex config hash, not a UUID.
  {
    name: 'node-cache',
    qos: 'burstable',
    uid: '5b1f3e0c9a8d7e6f5a4b3c2d1e0f9a8b',
    containers: [{ name: 'node-cache', anon: 25 * MiB, file: 2 * MiB, max: 170 * MiB, oomKills: 0 }],
  },
];

function podSlice(pod, uid) {
  const u = underscored(uid);
  if (pod.qos === 'guaranteed') return path.join('kubepods.slice', `kubepods-pod${u}.slice`);
  return path.join('kubepods.slice', `kubepods-${pod.qos}.slice`, `kubepods-${pod.qos}-pod${u}.slice`);
}

function substitute(text, values) {
  return text
    .split('\n')
    .map((line) => {
      const [key] = line.split(' ');
      return key in values ? `${key} ${values[key]}` : line;
    })
    .join('\n');
}

function writeContainer(dir, c) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(template)) fs.copyFileSync(path.join(template, f), path.join(dir, f));
  const stat = fs.readFileSync(path.join(template, 'memory.stat'), 'utf8');
  const kernel = Number(/^kernel (\d+)$/m.exec(stat)[1]);
  fs.writeFileSync(
    path.join(dir, 'memory.stat'),
    substitute(stat, {
      anon: c.anon,
      file: c.file,
      inactive_anon: c.anon,
      active_anon: 0,
      inactive_file: c.file,
      active_file: 0,
    }),
  );
  const current = c.anon + c.file + kernel;
  fs.writeFileSync(path.join(dir, 'memory.current'), `${current}\n`);
  fs.writeFileSync(path.join(dir, 'memory.peak'), `${current + 4 * MiB}\n`);
  fs.writeFileSync(path.join(dir, 'memory.max'), `${c.max}\n`);
  const events = fs.readFileSync(path.join(template, 'memory.events'), 'utf8');
  const counts = { max: c.oomKills * 3, oom: c.oomKills, oom_kill: c.oomKills };
  fs.writeFileSync(path.join(dir, 'memory.events'), substitute(events, counts));
  fs.writeFileSync(path.join(dir, 'memory.events.local'), substitute(events, counts));
}

/** A slice or a service: not read by oomwatch beyond its name; the main files, with the template's figures. */
const PARENT_FILES = [
  'cgroup.controllers',
  'cgroup.subtree_control',
  'memory.current',
  'memory.events',
  'memory.stat',
  'memory.pressure',
];
function writeParent(dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of PARENT_FILES) {
    if (!fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(template, f), path.join(dir, f));
  }
  fs.writeFileSync(path.join(dir, 'memory.max'), 'max\n');
}

function writeTree(runtime) {
  const root = path.join(fixtures, `k8s-systemd-${runtime}`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  for (const f of ['cgroup.controllers', 'cgroup.subtree_control', 'memory.stat', 'memory.pressure']) {
    fs.copyFileSync(path.join(templateRoot, f), path.join(root, f));
  }
  const scope = (id) => (runtime === 'crio' ? `crio-${id}.scope` : `cri-containerd-${id}.scope`);
  const expected = { containers: [], notContainers: [] };
  for (const unit of ['kubelet.service', runtime === 'crio' ? 'crio.service' : 'containerd.service']) {
    writeParent(path.join(root, 'system.slice', unit));
    expected.notContainers.push(`/system.slice/${unit}`);
  }
  for (const pod of PODS) {
    const uid = pod.uid ?? podUid(`${runtime}-${pod.name}`);
    const slice = podSlice(pod, uid);
    let dir = root;
    for (const part of slice.split(path.sep)) {
      dir = path.join(dir, part);
      writeParent(dir);
    }
    const sandbox = cid(`${runtime}-${pod.name}-sandbox`);
    writeContainer(path.join(root, slice, scope(sandbox)), {
      anon: 300 * 1024,
      file: 0,
      max: 'max',
      oomKills: 0,
    });
    expected.containers.push({
      pod: pod.name,
      container: '',
      sandbox: true,
      id: sandbox,
      podUid: uid,
      qos: pod.qos,
      cgroupPath: `/${slice}/${scope(sandbox)}`,
    });
    for (const c of pod.containers) {
      const id = cid(`${runtime}-${pod.name}-${c.name}`);
      const dirOf = path.join(root, slice, scope(id));
      writeContainer(dirOf, c);
      expected.containers.push({
        pod: pod.name,
        container: c.name,
        id,
        podUid: uid,
        qos: pod.qos,
        cgroupPath: `/${slice}/${scope(id)}`,
        limit: c.max === 'max' ? null : c.max,
        oomKills: c.oomKills,
      });
      if (runtime === 'crio') {
        // The monitor of each CRI-O container: a cgroup beside it that is not a container.
        writeParent(path.join(root, slice, `crio-conmon-${id}.scope`));
        expected.notContainers.push(`/${slice}/crio-conmon-${id}.scope`);
      }
    }
    if (runtime === 'crio' && pod.name === 'cart') {
      // A container that made a sub-cgroup of its own (crun's "container" sub-cgroup): still the container.
      const id = cid(`${runtime}-cart-app`);
      writeParent(path.join(root, slice, scope(id), 'container'));
    }
  }
  fs.writeFileSync(
    path.join(root, 'GENERATED'),
    'Written by test/helpers/make-k8s-cgroup-trees.mjs from a container of ../v2 (Linux 6.1 formats).\n',
  );
  fs.writeFileSync(path.join(root, 'expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
}

writeTree('containerd');
writeTree('crio');
