import type { RawEnvelope } from './api';
import { timestampNanos } from './metadata';

/**
 * containerd's event stream (Events/Subscribe), one envelope at a time, narrowed to what oomwatch acts on.
 * What `ctr events` prints for a container OOM-killed under `ctr run` (containerd 1.6, this machine):
 *
 *   2026-12-04 15:58:55.819054416 +0000 UTC default /tasks/oom {"container_id":"h-rt-ctd-oom1"}
 *   2026-12-04 15:58:55.829416309 +0000 UTC default /tasks/exit {"container_id":"h-rt-ctd-oom1","id":"h-rt-ctd-oom1",
 *     "pid":13349,"exit_status":137,"exited_at":"2026-12-04T15:58:55.829331717Z"}
 *
 * TaskOOM is raised for an OOM kill of any process in the container's cgroup, its init or a child. TaskExit
 * is raised for the init process (`id` is the container id) and for every exec'd process (`id` is the exec
 * id): only the first is the container's exit. TaskExit has no OOM flag. Pure: no I/O, no logging.
 */

interface EventBase {
  namespace: string;
  /** The envelope's timestamp (when containerd published it), ns since the epoch. */
  timeNano: bigint;
  timeMs: number;
}

export type ContainerdEvent =
  | (EventBase & { kind: 'task-start'; containerId: string; pid: number })
  | (EventBase & { kind: 'task-oom'; containerId: string })
  | (EventBase & {
      kind: 'task-exit';
      containerId: string;
      exitCode: number;
      /** When the process exited (TaskExit.exited_at), ns; the envelope's time when absent. */
      exitedAtNano: bigint;
    })
  | (EventBase & { kind: 'container-create'; id: string; image: string })
  | (EventBase & { kind: 'container-update'; id: string })
  | (EventBase & { kind: 'container-delete'; id: string })
  | (EventBase & { kind: 'namespace-create'; name: string })
  | (EventBase & { kind: 'namespace-delete'; name: string });

export type ParsedEnvelope =
  | { kind: 'event'; event: ContainerdEvent }
  /** A well-formed event oomwatch does not act on (an exec's exit, images, snapshots...). */
  | { kind: 'ignored'; reason: string }
  | { kind: 'error'; message: string };

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The message name of an Any type URL: containerd sends bare names; a prefixed URL is read by its last part. */
function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** Narrow one envelope. Never throws. */
export function parseEnvelope(env: RawEnvelope): ParsedEnvelope {
  const type = typeName(env.typeUrl);
  const what = `${env.topic || '(no topic)'} ${type || '(no type)'}`;
  if (!type.startsWith('containerd.events.')) return { kind: 'ignored', reason: what };
  const timeNano = timestampNanos(env.timestamp);
  const p = env.payload;
  if (env.undecodable) return { kind: 'error', message: `${what}: the payload cannot be decoded` };
  if (p === undefined) {
    // A type oomwatch does not decode (images, snapshots, content, exec-added...): not an error.
    return { kind: 'ignored', reason: what };
  }
  if (timeNano === undefined) return { kind: 'error', message: `${what} without a timestamp` };
  const base: EventBase = { namespace: env.namespace, timeNano, timeMs: Number(timeNano / 1_000_000n) };
  const need = (field: string): string | undefined => {
    const v = str(p[field]);
    return v === '' ? undefined : v;
  };
  switch (type) {
    case 'containerd.events.TaskStart': {
      const containerId = need('container_id');
      if (containerId === undefined) return { kind: 'error', message: `${what} without container_id` };
      return { kind: 'event', event: { ...base, kind: 'task-start', containerId, pid: num(p['pid']) } };
    }
    case 'containerd.events.TaskOOM': {
      const containerId = need('container_id');
      if (containerId === undefined) return { kind: 'error', message: `${what} without container_id` };
      return { kind: 'event', event: { ...base, kind: 'task-oom', containerId } };
    }
    case 'containerd.events.TaskExit': {
      const containerId = need('container_id');
      if (containerId === undefined) return { kind: 'error', message: `${what} without container_id` };
      const id = str(p['id']);
      if (id !== '' && id !== containerId)
        return { kind: 'ignored', reason: `exit of exec ${id} in container ${containerId}` };
      return {
        kind: 'event',
        event: {
          ...base,
          kind: 'task-exit',
          containerId,
          exitCode: num(p['exit_status']),
          exitedAtNano: timestampNanos(p['exited_at']) ?? timeNano,
        },
      };
    }
    case 'containerd.events.ContainerCreate':
    case 'containerd.events.ContainerUpdate':
    case 'containerd.events.ContainerDelete': {
      const id = need('id');
      if (id === undefined) return { kind: 'error', message: `${what} without id` };
      if (type === 'containerd.events.ContainerCreate')
        return { kind: 'event', event: { ...base, kind: 'container-create', id, image: str(p['image']) } };
      const kind = type === 'containerd.events.ContainerUpdate' ? 'container-update' : 'container-delete';
      return { kind: 'event', event: { ...base, kind, id } };
    }
    case 'containerd.events.NamespaceCreate':
    case 'containerd.events.NamespaceDelete': {
      const name = need('name');
      if (name === undefined) return { kind: 'error', message: `${what} without name` };
      const kind = type === 'containerd.events.NamespaceCreate' ? 'namespace-create' : 'namespace-delete';
      return { kind: 'event', event: { ...base, kind, name } };
    }
  }
  return { kind: 'ignored', reason: what };
}

/**
 * The subscription's filters (containerd's filter syntax; several filters are OR'ed): the topics of tasks,
 * containers and namespaces. Images, snapshots and content events never cross the socket.
 */
export const EVENT_FILTERS: readonly string[] = [
  'topic~="^/tasks/"',
  'topic~="^/containers/"',
  'topic~="^/namespaces/"',
];
