import type { RawEnvelope } from '../../../src/sources/containerd/api';
import { parseEnvelope } from '../../../src/sources/containerd/events';
import {
  containerName,
  narrowContainer,
  narrowNamespaces,
  narrowTasks,
  specCgroupsPath,
  timestampNanos,
} from '../../../src/sources/containerd/metadata';

/**
 * The narrowing of what containerd's calls return, on the shapes a decoded message can take besides the
 * captured ones (messages.test.ts): absent fields, zero values, garbage. Total functions: nothing throws.
 */
const HEX = 'f8702b0e937be9131a4e96df14ddb7dc71918af557521fa13f8a7910fe59c5b2';
const spec = (value: unknown): { type_url: string; value: Buffer } => ({
  type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
  value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
});

describe('timestampNanos', () => {
  it.each<[unknown, bigint | undefined]>([
    [{ seconds: '1796406435', nanos: 184020044 }, 1796406435184020044n],
    [{ seconds: 1796406435, nanos: 0 }, 1796406435000000000n],
    [{ seconds: '-62135596800', nanos: 0 }, undefined], // Go's zero time: a task still running
    [{ seconds: '0', nanos: 0 }, undefined],
    [null, undefined],
    [{ seconds: 'soon' }, undefined],
    ['1796406435', undefined],
  ])('%j -> %s', (raw, expected) => {
    expect(timestampNanos(raw)).toBe(expected);
  });
});

describe('specCgroupsPath', () => {
  it.each<[unknown, string | undefined]>([
    [spec({ linux: { cgroupsPath: '/default/web' } }), '/default/web'],
    [spec({ linux: { cgroupsPath: 'system.slice:nerdctl:abc' } }), 'system.slice:nerdctl:abc'],
    [spec({ linux: {} }), undefined],
    [spec({ linux: { cgroupsPath: '' } }), undefined],
    [spec({ process: { env: ['A=1'] } }), undefined],
    [spec('{not json'), undefined],
    [{ type_url: 'x', value: Buffer.alloc(0) }, undefined],
    [null, undefined],
    [{ value: 'not bytes' }, undefined],
  ])('%#', (raw, expected) => {
    expect(specCgroupsPath(raw)).toBe(expected);
  });
});

describe('narrowing containers, tasks and namespaces', () => {
  it('drops a container without an id; keeps one with nothing else; takes only string labels', () => {
    expect(narrowContainer({ id: '', image: 'x' }, 'default')).toBeUndefined();
    expect(narrowContainer('garbage', 'default')).toBeUndefined();
    expect(narrowContainer({ id: 'web', labels: { a: 'b', n: 3 }, spec: spec('{') }, 'ns')).toEqual({
      namespace: 'ns',
      id: 'web',
      image: '',
      labels: { a: 'b' },
    });
    expect(
      narrowContainer({ id: 'web', spec: spec({ linux: { cgroupsPath: 'web' } }) }, 'ns')?.cgroupPath,
    ).toBe(undefined);
  });

  it('reads tasks by container id or, as containerd 1.6 sends them, by id; unknown states are unknown', () => {
    expect(
      narrowTasks(
        {
          tasks: [
            { container_id: '', id: 'a', pid: 10, status: 2 },
            { container_id: 'b', id: 'b', status: 9, exit_status: 1 },
            { id: '' },
            'junk',
          ],
        },
        'default',
      ),
    ).toEqual([
      {
        namespace: 'default',
        containerId: 'a',
        pid: 10,
        status: 'running',
        exitStatus: 0,
        exitedAtNano: undefined,
      },
      {
        namespace: 'default',
        containerId: 'b',
        pid: 0,
        status: 'unknown',
        exitStatus: 1,
        exitedAtNano: undefined,
      },
    ]);
    expect(narrowTasks({}, 'default')).toEqual([]);
    expect(narrowNamespaces({ namespaces: [{ name: 'a' }, { name: '' }, {}] })).toEqual(['a']);
    expect(narrowNamespaces(null)).toEqual([]);
  });

  it.each<[string, Record<string, string>, string]>([
    ['nerdctl run --name web', { 'nerdctl/name': 'web' }, 'web'],
    ["the CRI plugin's container", { 'io.kubernetes.container.name': 'app' }, 'app'],
    [
      'nerdctl/name wins over a Kubernetes label',
      { 'nerdctl/name': 'web', 'io.kubernetes.container.name': 'app' },
      'web',
    ],
    ['a 64-hex id without a name label (a sandbox, nerdctl without --name)', {}, ''],
  ])('the name of %s', (_what, labels, expected) => {
    expect(containerName(HEX, labels)).toBe(expected);
  });

  it("takes an id ctr's user chose as the name", () => {
    expect(containerName('nightly', {})).toBe('nightly');
  });
});

describe('parseEnvelope on what a decoded envelope can be', () => {
  const at = { seconds: '1796406435', nanos: 5 };
  const env = (
    typeUrl: string,
    payload: Record<string, unknown> | undefined,
    extra: Partial<RawEnvelope> = {},
  ): RawEnvelope => ({
    timestamp: at,
    namespace: 'default',
    topic: '/tasks/oom',
    typeUrl,
    payload,
    ...extra,
  });

  it('reads a type URL with a prefix by its last part', () => {
    expect(
      parseEnvelope(env('type.googleapis.com/containerd.events.TaskOOM', { container_id: 'web' })),
    ).toEqual({
      kind: 'event',
      event: {
        kind: 'task-oom',
        namespace: 'default',
        containerId: 'web',
        timeNano: 1796406435000000005n,
        timeMs: 1796406435000,
      },
    });
  });

  it("takes an exit without an id as the container's own (the field is the init's or an exec's)", () => {
    const r = parseEnvelope(
      env('containerd.events.TaskExit', { container_id: 'web', id: '', exit_status: 3 }),
    );
    expect(r).toMatchObject({
      kind: 'event',
      event: { kind: 'task-exit', exitCode: 3, exitedAtNano: 1796406435000000005n },
    });
  });

  it.each<[string, RawEnvelope, string]>([
    ['a task event without its container', env('containerd.events.TaskOOM', { container_id: '' }), 'error'],
    ['a container event without its id', env('containerd.events.ContainerDelete', {}), 'error'],
    ['no timestamp', env('containerd.events.TaskOOM', { container_id: 'web' }, { timestamp: null }), 'error'],
    [
      'a payload that did not decode',
      env('containerd.events.TaskOOM', undefined, { undecodable: true }),
      'error',
    ],
    ['an image event', env('containerd.services.images.v1.ImageCreate', undefined), 'ignored'],
    ['an event type oomwatch does not decode', env('containerd.events.TaskPaused', undefined), 'ignored'],
    ['no type at all', env('', undefined), 'ignored'],
  ])('%s: %s', (_what, e, kind) => {
    expect(parseEnvelope(e).kind).toBe(kind);
  });
});
