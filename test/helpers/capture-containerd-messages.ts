/**
 * Captures containerd's own bytes for the unit tests: the messages of every call oomwatch makes (Version,
 * Namespaces/List, Containers/ListStream, List and Get, Tasks/List) and the envelopes of Events/Subscribe, from
 * a private containerd (test/helpers/containerd.ts) running real containers. The unit tests decode them with
 * oomwatch's own message definitions (src/sources/containerd/proto.ts), so a wrong field number fails there,
 * and a fake containerd serves them back to oomwatch's gRPC client byte for byte.
 *
 * What happens (namespace default unless said): a namespace is created; a container with a 64-hex id and
 * nerdctl's and Compose's labels is OOM-killed by `ctr run` (32 MiB limit); a container `worker` (an id ctr's
 * user chose) runs, and a process exec'd in it is OOM-killed; a container `nightly` under a cgroup of its own
 * (`--cgroup`) is killed with SIGKILL and its task left stopped; in namespace k8s.io, a pod's sandbox and
 * container are created (not run) with the labels containerd's CRI plugin sets; the OOM-killed container is
 * deleted. (A systemd cgroupsPath cannot be made here: this host has no systemd for runc to ask.)
 *
 *   npm run fixtures:containerd      (root; writes test/fixtures/containerd/)
 */
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { messageType } from '../../src/sources/containerd/proto';
import { PrivateContainerd, allocate, CONTAINERD_TEST_IMAGE } from './containerd';

// Run from the repository's root (npm run): the compiled script lives in .cache/.
const OUT = path.resolve('test', 'fixtures', 'containerd');
const raw = (b: Buffer): Buffer => b;
const encode = (type: string, value: object): Buffer => {
  const t = messageType(type);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
};
const cid = (name: string): string =>
  createHash('sha256').update(`oomwatch-containerd-capture-${name}`).digest('hex');

interface Written {
  file: string;
  message: string;
  what: string;
}

async function main(): Promise<void> {
  if (!fs.existsSync('package.json'))
    throw new Error('run from the repository root: npm run fixtures:containerd');
  const ctd = await PrivateContainerd.create();
  const written: Written[] = [];
  const write = (file: string, message: string, what: string, bytes: Buffer): void => {
    fs.writeFileSync(path.join(OUT, file), bytes);
    written.push({ file, message, what });
  };
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(path.join(OUT, 'events'), { recursive: true });
  const client = new grpc.Client(`unix://${ctd.socket}`, grpc.credentials.createInsecure());
  const md = (ns?: string): grpc.Metadata => {
    const m = new grpc.Metadata();
    if (ns) m.set('containerd-namespace', ns);
    return m;
  };
  const unary = (method: string, reqType: string, req: object, ns?: string): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(method, raw, raw, encode(reqType, req), md(ns), (err, v) =>
        err ? reject(err) : resolve(v as Buffer),
      ),
    );
  const stream = (method: string, reqType: string, req: object, ns?: string): Promise<Buffer[]> =>
    new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const call = client.makeServerStreamRequest(method, raw, raw, encode(reqType, req), md(ns));
      call.on('data', (b: Buffer) => out.push(b));
      call.on('error', reject);
      call.on('status', (s: grpc.StatusObject) => s.code === grpc.status.OK && resolve(out));
    });

  const envelopes: Buffer[] = [];
  const sub = client.makeServerStreamRequest(
    '/containerd.services.events.v1.Events/Subscribe',
    raw,
    raw,
    encode('containerd.services.events.v1.SubscribeRequest', { filters: [] }),
    md(),
  );
  sub.on('data', (b: Buffer) => envelopes.push(b));
  sub.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 500));

  const scenario: Record<string, unknown> = {};
  try {
    await ctd.ctrOk('default', 'namespaces', 'create', 'oomwatch-capture', 'team=capture');
    await ctd.importTestImage('default');
    await ctd.importTestImage('k8s.io');

    const web = cid('web');
    scenario['web'] = web;
    const webRun = await ctd.ctr(
      'default',
      'run',
      '--memory-limit',
      String(32 * 1024 * 1024),
      '--label',
      'nerdctl/name=web',
      '--label',
      'com.docker.compose.project=shop',
      '--label',
      'com.docker.compose.service=cart',
      '--label',
      'com.example.team=payments',
      '--env',
      'SECRET=s3cr3t-capture',
      CONTAINERD_TEST_IMAGE,
      web,
      'sh',
      '-c',
      allocate(100),
    );
    scenario['webExit'] = webRun.code;

    await ctd.ctrOk(
      'default',
      'run',
      '-d',
      '--memory-limit',
      String(32 * 1024 * 1024),
      CONTAINERD_TEST_IMAGE,
      'worker',
      'sleep',
      '600',
    );
    const exec = await ctd.ctr(
      'default',
      'tasks',
      'exec',
      '--exec-id',
      'hog',
      'worker',
      'sh',
      '-c',
      allocate(100),
    );
    scenario['execExit'] = exec.code;

    await ctd.ctrOk(
      'default',
      'run',
      '-d',
      '--cgroup',
      '/oomwatch-capture/nightly',
      CONTAINERD_TEST_IMAGE,
      'nightly',
      'sleep',
      '600',
    );
    await ctd.ctrOk('default', 'tasks', 'kill', '-s', 'SIGKILL', 'nightly');
    for (let i = 0; i < 50; i++) {
      if ((await ctd.ctrOk('default', 'tasks', 'ls')).match(/nightly\s+\d+\s+STOPPED/)) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const podUid = '4e1d7c2a-9b3f-4c1d-8e2f-5a6b7c8d9e0f';
    const sandbox = cid('sandbox');
    const app = cid('app');
    scenario['sandbox'] = sandbox;
    scenario['app'] = app;
    scenario['podUid'] = podUid;
    const podLabels = [
      '--label',
      'io.kubernetes.pod.name=cart-7d9f8b6c5d-x2x9q',
      '--label',
      'io.kubernetes.pod.namespace=shop',
      '--label',
      `io.kubernetes.pod.uid=${podUid}`,
    ];
    // Created, not run: no task, no cgroup (ctr 1.6 takes no --cgroup on create: the spec says /k8s.io/<id>).
    await ctd.ctrOk(
      'k8s.io',
      'containers',
      'create',
      ...podLabels,
      '--label',
      'io.cri-containerd.kind=sandbox',
      CONTAINERD_TEST_IMAGE,
      sandbox,
      'sleep',
      '600',
    );
    await ctd.ctrOk(
      'k8s.io',
      'containers',
      'create',
      ...podLabels,
      '--label',
      'io.cri-containerd.kind=container',
      '--label',
      'io.kubernetes.container.name=app',
      CONTAINERD_TEST_IMAGE,
      app,
      'sleep',
      '600',
    );

    write(
      'version.pb',
      'containerd.services.version.v1.VersionResponse',
      'Version',
      await unary('/containerd.services.version.v1.Version/Version', 'google.protobuf.Empty', {}),
    );
    write(
      'namespaces.pb',
      'containerd.services.namespaces.v1.ListNamespacesResponse',
      'Namespaces/List',
      await unary(
        '/containerd.services.namespaces.v1.Namespaces/List',
        'containerd.services.namespaces.v1.ListNamespacesRequest',
        {},
      ),
    );
    for (const ns of ['default', 'k8s.io']) {
      const msgs = await stream(
        '/containerd.services.containers.v1.Containers/ListStream',
        'containerd.services.containers.v1.ListContainersRequest',
        {},
        ns,
      );
      msgs.forEach((b, i) =>
        write(
          `containers-${ns}-${i}.pb`,
          'containerd.services.containers.v1.ListContainerMessage',
          `Containers/ListStream in ${ns}, message ${i}`,
          b,
        ),
      );
      write(
        `containers-${ns}.pb`,
        'containerd.services.containers.v1.ListContainersResponse',
        `Containers/List in ${ns}`,
        await unary(
          '/containerd.services.containers.v1.Containers/List',
          'containerd.services.containers.v1.ListContainersRequest',
          {},
          ns,
        ),
      );
      write(
        `tasks-${ns}.pb`,
        'containerd.services.tasks.v1.ListTasksResponse',
        `Tasks/List in ${ns}`,
        await unary(
          '/containerd.services.tasks.v1.Tasks/List',
          'containerd.services.tasks.v1.ListTasksRequest',
          {},
          ns,
        ),
      );
    }
    write(
      'container-get-worker.pb',
      'containerd.services.containers.v1.GetContainerResponse',
      'Containers/Get worker in default',
      await unary(
        '/containerd.services.containers.v1.Containers/Get',
        'containerd.services.containers.v1.GetContainerRequest',
        { id: 'worker' },
        'default',
      ),
    );

    await ctd.ctrOk('default', 'containers', 'delete', web);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    sub.cancel();
    client.close();
    envelopes.forEach((b, i) => {
      const topic = String(messageType('containerd.services.events.v1.Envelope').decode(b).toJSON()['topic']);
      write(
        `events/${String(i).padStart(3, '0')}${topic.replace(/\//g, '-')}.pb`,
        'containerd.services.events.v1.Envelope',
        `Events/Subscribe envelope ${i}: ${topic}`,
        b,
      );
    });
    const version = (await ctd.ctr('', 'version')).stdout.match(/Server:[\s\S]*?Version:\s+(\S+)/)?.[1];
    fs.writeFileSync(
      path.join(OUT, 'messages.json'),
      `${JSON.stringify({ capturedBy: 'npm run fixtures:containerd (test/helpers/capture-containerd-messages.ts)', date: new Date().toISOString().slice(0, 10), containerd: version, scenario, messages: written }, null, 2)}\n`,
    );
    await ctd.destroy();
    // runc leaves the parent of nightly's --cgroup behind in every controller.
    for (const c of fs.readdirSync('/sys/fs/cgroup')) {
      try {
        fs.rmdirSync(path.join('/sys/fs/cgroup', c, 'oomwatch-capture'));
      } catch {
        // absent
      }
    }
  }
  console.log(`capture-containerd-messages: wrote ${written.length} messages to ${OUT}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
