import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { DockerOomEvent } from '../../src/accounting/observations';
import {
  type DockerDie,
  type DockerLifecycleEvent,
  type DockerListener,
  DockerSource,
} from '../../src/sources/docker';
import type { ContainerMetadata } from '../../src/state/labels';
import {
  DOCKER_SOCKET,
  TEST_IMAGE,
  allocateShell,
  docker,
  ensureDockerd,
  ensureTestImage,
  removeTestContainers,
  runContainer,
  waitExit,
} from '../helpers/docker';
import { describeIf, isRoot } from '../helpers/prereq';

/**
 * The Docker source against the real Docker Engine: real containers OOM-killed at a real memory limit,
 * killed with docker kill, labelled, given secrets in their environment. Other suites use the same dockerd
 * at the same time, so every assertion is about this suite's own containers (unique names and ids).
 */
type Seen =
  | { kind: 'oom'; e: DockerOomEvent }
  | { kind: 'die'; e: DockerDie }
  | { kind: 'start'; e: DockerLifecycleEvent }
  | { kind: 'destroy'; e: DockerLifecycleEvent }
  | { kind: 'metadata'; id: string; meta: ContainerMetadata };

class Recorder implements DockerListener {
  readonly seen: Seen[] = [];
  readonly inventories: Array<ReadonlySet<string>> = [];
  onOom(e: DockerOomEvent): void {
    this.seen.push({ kind: 'oom', e });
  }
  onDie(e: DockerDie): void {
    this.seen.push({ kind: 'die', e });
  }
  onStart(e: DockerLifecycleEvent): void {
    this.seen.push({ kind: 'start', e });
  }
  onDestroy(e: DockerLifecycleEvent): void {
    this.seen.push({ kind: 'destroy', e });
  }
  onMetadata(id: string, meta: ContainerMetadata): void {
    this.seen.push({ kind: 'metadata', id, meta });
  }
  onInventory(ids: ReadonlySet<string>): void {
    this.inventories.push(ids);
  }
  of(id: string): Seen[] {
    return this.seen.filter((s) => (s.kind === 'metadata' ? s.id : s.e.id) === id);
  }
  kinds(id: string): string[] {
    return this.of(id)
      .map((s) => s.kind)
      .filter((k) => k !== 'metadata');
  }
  dies(id: string): DockerDie[] {
    return this.of(id).flatMap((s) => (s.kind === 'die' ? [s.e] : []));
  }
  /** Metadata as the container table would hold it after applying every update in order. */
  merged(id: string): ContainerMetadata {
    const out: ContainerMetadata = {};
    for (const s of this.of(id)) if (s.kind === 'metadata') Object.assign(out, s.meta);
    return out;
  }
}

async function eventually<T>(probe: () => T | undefined, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const dump = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
const rand = (): string => randomBytes(4).toString('hex');
const quiet = pino({ level: 'silent' });

describeIf(isRoot(), ensureDockerd())('Docker source against the real Docker Engine', () => {
  const rec = new Recorder();
  let source: DockerSource;
  const run = rand();

  beforeAll(async () => {
    ensureTestImage();
    source = new DockerSource({
      socketPath: DOCKER_SOCKET,
      listener: rec,
      log: quiet,
      labelAllow: ['com.example.team'],
    });
    await source.start();
  });
  afterAll(async () => {
    await source?.stop();
    await removeTestContainers();
  });

  it('is up once connected, and lists the containers that already run', async () => {
    const id = await runContainer({ name: `ow-dsrc-pre-${run}`, cmd: 'sleep 3600' });
    try {
      const lateRec = new Recorder();
      const late = new DockerSource({ socketPath: DOCKER_SOCKET, listener: lateRec, log: quiet });
      await late.start();
      expect(late.up).toBe(true);
      expect(lateRec.inventories[0]?.has(id)).toBe(true);
      expect(lateRec.merged(id)).toEqual(
        expect.objectContaining({ name: `ow-dsrc-pre-${run}`, image: TEST_IMAGE }),
      );
      // The list happens before start() resolves; the pid comes from the inspect queued for running containers.
      await late.settled();
      const pid = Number(await docker('inspect', '-f', '{{.State.Pid}}', id));
      expect(late.metadataOf(id)).toEqual(expect.objectContaining({ name: `ow-dsrc-pre-${run}`, pid }));
      await late.stop();
      expect(late.up).toBe(false);
      expect(source.up).toBe(true);
    } finally {
      await docker('rm', '-f', id);
    }
  });

  it('an OOM-killed container: oom, then die 137, with its id, name, image and compose labels', async () => {
    const name = `ow-dsrc-oom-${run}`;
    const secret = `s3cr3t-${rand()}`;
    const id = await runContainer({
      name,
      rm: true,
      args: [
        '--memory=32m',
        '--memory-swap=32m',
        '--label',
        `com.docker.compose.project=shop-${run}`,
        '--label',
        'com.docker.compose.service=cart',
        '--label',
        'com.example.team=payments',
        '-e',
        `SECRET=${secret}`,
      ],
      cmd: allocateShell(100),
    });
    const die = await eventually(() => rec.dies(id)[0], 30_000, 'the die event');
    expect(die).toEqual(expect.objectContaining({ id, exitCode: 137, exitCodeFrom: 'event' }));
    const kinds = rec.kinds(id);
    expect(kinds[0]).toBe('start');
    expect(kinds).toContain('oom');
    expect(kinds.lastIndexOf('oom')).toBeLessThan(kinds.indexOf('die'));
    const oom = rec.of(id).find((s) => s.kind === 'oom') as { e: DockerOomEvent };
    expect(oom.e.timeNano).toBeLessThanOrEqual(die.timeNano);
    expect(Math.abs(oom.e.timeMs - Date.now())).toBeLessThan(60_000);
    expect(rec.merged(id)).toEqual(
      expect.objectContaining({
        name,
        image: TEST_IMAGE,
        compose_project: `shop-${run}`,
        compose_service: 'cart',
        namespace: '',
        pod: '',
        container: '',
        sandbox: false,
        info: { 'com.example.team': 'payments' },
      }),
    );
    await eventually(
      () => (rec.kinds(id).includes('destroy') ? true : undefined),
      10_000,
      'destroy of the --rm container',
    );
    expect(source.metadataOf(id)).toBeUndefined();
    expect(dump(rec.of(id))).not.toContain(secret);
  });

  it('docker kill: die 137 and no oom', async () => {
    const id = await runContainer({ name: `ow-dsrc-kill-${run}`, cmd: 'sleep 3600' });
    await eventually(() => (rec.kinds(id).includes('start') ? true : undefined), 10_000, 'start');
    await docker('kill', id);
    expect(await waitExit(id)).toBe(137);
    const die = await eventually(() => rec.dies(id)[0], 10_000, 'the die event');
    expect(die).toEqual(expect.objectContaining({ exitCode: 137, exitCodeFrom: 'event' }));
    await docker('rm', id);
    await eventually(() => (rec.kinds(id).includes('destroy') ? true : undefined), 10_000, 'destroy');
    expect(rec.kinds(id)).toEqual(['start', 'die', 'destroy']);
  });

  it('--label-allow copies only allowed labels, and -e SECRET never reaches metadata, inspect included', async () => {
    const secret = `s3cr3t-${rand()}`;
    const id = await runContainer({
      name: `ow-dsrc-labels-${run}`,
      args: [
        '--label',
        'com.example.team=search',
        '--label',
        'com.example.owner=alice',
        '-e',
        `SECRET=${secret}`,
        '-e',
        'com.example.team=from-env',
      ],
      cmd: 'sleep 3600',
    });
    try {
      // The inspect queued on start brings the pid: wait for it so the inspect path is covered too.
      const withPid = await eventually(
        () => {
          const m = rec.merged(id);
          return m.pid !== undefined ? m : undefined;
        },
        15_000,
        'metadata with the pid from inspect',
      );
      expect(withPid.pid).toBe(Number(await docker('inspect', '-f', '{{.State.Pid}}', id)));
      expect(source.metadataOf(id)).toEqual(withPid);
      expect(dump(source.metadataOf(id))).not.toContain(secret);
      for (const s of rec.of(id))
        if (s.kind === 'metadata' && s.meta.info)
          expect(s.meta.info).toEqual({ 'com.example.team': 'search' });
      const everything = dump(rec.of(id));
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain('SECRET');
      expect(everything).not.toContain('from-env');
      expect(everything).not.toContain('alice');
    } finally {
      await docker('rm', '-f', id);
    }
  });

  it('a container label named exitCode does not pass for the exit code: inspect gives the real one', async () => {
    const id = await runContainer({
      name: `ow-dsrc-exitlabel-${run}`,
      args: ['--label', 'exitCode=0'],
      cmd: 'sleep 0.5; exit 3',
    });
    try {
      expect(await waitExit(id)).toBe(3);
      const die = await eventually(() => rec.dies(id)[0], 10_000, 'the die event');
      expect(die).toEqual(expect.objectContaining({ id, exitCode: 3, exitCodeFrom: 'inspect' }));
    } finally {
      await docker('rm', '-f', id);
    }
  });

  it('with --rm and an exitCode label, the exit is delivered and its code is never the label value', async () => {
    const id = await runContainer({
      name: `ow-dsrc-exitlabel-rm-${run}`,
      rm: true,
      args: ['--label', 'exitCode=0'],
      cmd: 'sleep 0.5; exit 3',
    });
    const die = await eventually(() => rec.dies(id)[0], 10_000, 'the die event');
    // Either inspect won the race with the removal (3), or the code is reported unknown; never 0.
    expect([3, undefined]).toContain(die.exitCode);
    expect(die.exitCodeFrom).toBe(die.exitCode === undefined ? 'unknown' : 'inspect');
  });

  it('replay: events that happened while the source was stopped are delivered on restart with the cursor, once', async () => {
    const before = new Recorder();
    const first = new DockerSource({ socketPath: DOCKER_SOCKET, listener: before, log: quiet });
    await first.start();
    const seenId = await runContainer({ name: `ow-dsrc-before-${run}`, cmd: 'exit 0' });
    await waitExit(seenId);
    await eventually(() => before.dies(seenId)[0], 10_000, 'the die seen before stopping');
    await first.stop();
    const cursor = first.cursor as bigint;
    expect(cursor).toBeGreaterThanOrEqual(before.dies(seenId)[0]!.timeNano);

    // While stopped: a container starts, exits 7 and is removed.
    const missedId = await runContainer({ name: `ow-dsrc-missed-${run}`, cmd: 'exit 7' });
    expect(await waitExit(missedId)).toBe(7);
    await docker('rm', seenId, missedId);

    const after = new Recorder();
    const second = new DockerSource({ socketPath: DOCKER_SOCKET, listener: after, log: quiet, cursor });
    await second.start();
    await eventually(
      () => (after.kinds(missedId).includes('destroy') ? true : undefined),
      10_000,
      'the replayed destroy',
    );
    await new Promise((r) => setTimeout(r, 500)); // anything delivered twice would arrive by now
    await second.stop();
    expect(after.kinds(missedId)).toEqual(['start', 'die', 'destroy']);
    expect(after.dies(missedId)).toEqual([expect.objectContaining({ exitCode: 7, exitCodeFrom: 'event' })]);
    // The container seen before the cursor: its destroy came after, the rest is not delivered again.
    expect(after.kinds(seenId)).toEqual(['destroy']);
    expect(second.stats.duplicates).toBeGreaterThan(0);
    expect(second.cursor).toBeGreaterThan(cursor);
  });
});
