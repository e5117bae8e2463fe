import * as fs from 'node:fs';
import * as path from 'node:path';
import { labelsFromAttributes, parseEventLine } from '../../../src/sources/docker/events';
import {
  LabelAllowList,
  jvmMemoryFlagsFromInspect,
  metadataFromEvent,
  metadataFromInspect,
  metadataFromList,
  narrowInspect,
  narrowListed,
  ownName,
  runStateFromInspect,
} from '../../../src/sources/docker/metadata';
import { FIXTURES } from '../../helpers/paths';

/** Container metadata from inspect, list and event bodies captured from a real dockerd (capture.sh). */
const DIR = path.join(FIXTURES, 'docker');
const read = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
const expected = read('expected.json') as Record<string, Record<string, string>>;
const none = new LabelAllowList([]);

describe('metadata from inspect', () => {
  const raw = read('inspect-oom.json');
  const secret = (expected['oom'] as { secret: string }).secret;

  it('the raw body holds the environment (SECRET=...), which is why it is narrowed before use', () => {
    expect(JSON.stringify(raw)).toContain(secret);
    expect(JSON.stringify(narrowInspect(raw))).not.toContain(secret);
    expect(JSON.stringify(narrowInspect(raw))).not.toContain('SECRET');
  });

  it('name, image, compose project and service, pid of the running container', () => {
    const meta = metadataFromInspect(narrowInspect(raw)!, none);
    expect(meta).toEqual({
      name: expected['oom']!['name'],
      image: 'oomwatch-test/busybox:latest',
      compose_project: 'shop',
      compose_service: 'cart',
      namespace: '',
      pod: '',
      container: '',
      sandbox: false,
      info: {},
      pid: (raw as { State: { Pid: number } }).State.Pid,
    });
    expect(meta.pid).toBeGreaterThan(0);
  });

  it('--label-allow copies only the allowed labels into info, and never an environment variable', () => {
    const allow = new LabelAllowList(['com.example.team', 'com.example.missing', 'SECRET']);
    const meta = metadataFromInspect(narrowInspect(raw)!, allow);
    expect(meta.info).toEqual({ 'com.example.team': 'payments' });
    expect(JSON.stringify(meta)).not.toContain(secret);
  });

  it('Kubernetes names from the io.kubernetes.* labels', () => {
    const meta = metadataFromInspect(narrowInspect(read('inspect-kubernetes.json'))!, none);
    expect(meta).toEqual(
      expect.objectContaining({
        namespace: 'default',
        pod: 'web-0',
        container: 'app',
        sandbox: false,
        compose_project: '',
      }),
    );
  });

  it('a stopped container reports no pid', () => {
    const stopped = narrowInspect({ Id: 'x', State: { Running: false, Pid: 0, ExitCode: 137 } })!;
    expect(metadataFromInspect(stopped, none).pid).toBeUndefined();
    expect(stopped.State).toEqual({ Running: false, Pid: 0, ExitCode: 137 });
  });

  it.each([null, 42, 'x', {}, { Id: 7 }])('rejects a body that is not a container: %p', (body) => {
    expect(narrowInspect(body)).toBeUndefined();
  });
});

describe("what the on-call commands read from inspect: the run, Docker's memory settings, the JVM flags", () => {
  const raw = read('inspect-oom.json') as { Config: { Env: string[] } };
  const secret = (expected['oom'] as { secret: string }).secret;

  it('the state, times and HostConfig memory settings of a running container with --memory=32m --memory-swap=32m', () => {
    const c = narrowInspect(raw);
    expect(c).toBeDefined();
    expect(runStateFromInspect(c!)).toEqual({
      state: 'running',
      running: true,
      pid: 19799,
      oomKilled: false,
      exitCode: 0,
      createdMs: Date.parse('2026-11-28T01:33:55.231854442Z'),
      startedAtMs: Date.parse('2026-11-28T01:33:55.669066804Z'),
      // FinishedAt is 0001-01-01T00:00:00Z, Docker's time that never happened: no finish time.
      restartCount: 0,
      memory: {
        limit: 32 * 1024 * 1024,
        reservation: 0,
        memorySwap: 32 * 1024 * 1024,
        swappiness: null,
        oomKillDisable: false,
      },
    });
  });

  it('a body without State or HostConfig gives the defaults, not an error', () => {
    expect(runStateFromInspect({ Id: 'x' })).toEqual({
      state: '',
      running: false,
      pid: 0,
      oomKilled: false,
      exitCode: 0,
      restartCount: 0,
      memory: { limit: 0, reservation: 0, memorySwap: 0, swappiness: null, oomKillDisable: false },
    });
  });

  it('of the environment only the memory flags of JAVA_TOOL_OPTIONS and JAVA_OPTS, nothing of any other variable', () => {
    const withJava = {
      ...raw,
      Config: {
        ...raw.Config,
        Env: [
          ...raw.Config.Env,
          'JAVA_TOOL_OPTIONS=-Xmx48m -Dpassword=hunter2',
          'JAVA_OPTS=-XX:MaxRAMPercentage=80 -Dtoken=abc',
          'NOT_JAVA_OPTS=-Xmx1g',
        ],
      },
    };
    const flags = jvmMemoryFlagsFromInspect(withJava);
    expect(flags).toEqual({
      maxHeapBytes: 48 * 1024 * 1024,
      maxRamPercentage: 80,
      containerSupport: true,
      flags: ['-Xmx48m', '-XX:MaxRAMPercentage=80'],
    });
    expect(JSON.stringify(flags)).not.toMatch(/hunter2|abc|SECRET|1g/);
    expect(JSON.stringify(flags)).not.toContain(secret);
  });

  it('no JAVA_* variable, or no environment at all: undefined', () => {
    expect(jvmMemoryFlagsFromInspect(raw)).toBeUndefined();
    expect(jvmMemoryFlagsFromInspect({ Id: 'x', Config: {} })).toBeUndefined();
    expect(jvmMemoryFlagsFromInspect('not a body')).toBeUndefined();
  });
});

describe('metadata from the container list', () => {
  const list = (read('list.json') as unknown[]).map((c) => narrowListed(c)!);
  const k8s = expected['kubernetes'] as { sandbox: string; workload: string };

  it('the pod sandbox (io.kubernetes.docker.type=podsandbox) is marked, the workload is not', () => {
    const byId = new Map(list.map((c) => [c.Id, metadataFromList(c, none)]));
    expect(byId.get(k8s.sandbox)).toEqual(
      expect.objectContaining({ sandbox: true, container: 'POD', pod: 'web-0', namespace: 'default' }),
    );
    expect(byId.get(k8s.workload)).toEqual(
      expect.objectContaining({
        sandbox: false,
        container: 'app',
        pod: 'web-0',
        namespace: 'default',
        image: 'oomwatch-test/busybox:latest',
      }),
    );
    expect(byId.get(k8s.workload)?.name).toMatch(/^k8s_app_web-0_default_/);
  });

  it.each<[string, string[] | undefined, string | undefined]>([
    ['plain', ['/web'], 'web'],
    ['legacy link alias listed first', ['/app/db', '/db'], 'db'],
    ['none', [], undefined],
    ['absent', undefined, undefined],
  ])('own name: %s', (_n, names, want) => {
    expect(ownName(names)).toBe(want);
  });
});

describe('metadata from a start event', () => {
  it('compose labels from the attributes; name and image are Docker, not labels', () => {
    const line = fs
      .readFileSync(path.join(DIR, 'current/oom.jsonl'), 'utf8')
      .split('\n')
      .find((l) => l.includes('"Action":"start"')) as string;
    const r = parseEventLine(line);
    if (r.kind !== 'event') throw new Error('fixture start line did not parse');
    const labels = labelsFromAttributes(r.event.attributes);
    expect(labels).not.toHaveProperty('name');
    expect(labels).not.toHaveProperty('image');
    const meta = metadataFromEvent(r.event.attributes, labels, new LabelAllowList(['com.example.team']));
    expect(meta).toEqual(
      expect.objectContaining({
        name: expected['oom']!['name'],
        image: 'oomwatch-test/busybox:latest',
        compose_project: 'shop',
        compose_service: 'cart',
        info: { 'com.example.team': 'payments' },
      }),
    );
  });
});
