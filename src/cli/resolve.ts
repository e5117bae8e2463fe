import type { ContainerPath } from '../cgroup/container-path';
import { OomwatchError } from '../errors';
import { type ContainerLabels, type NamedLabels, labelsOf } from '../state/labels';
import type { ContainerRow } from '../state/store';
import type { DockerListed } from './docker';

/**
 * Turning what the user typed (a name or an id prefix) into one container, from everything that knows
 * containers: Docker's list (running and stopped), the cgroups on the host, and the daemon's state database
 * (which remembers containers that were removed). Pure: the three lists in, a match or a typed problem out.
 */

export interface Candidate {
  /** The full id. */
  id: string;
  /** Its labels as oomwatch's series carry them (`id` the short id), from Docker, else the state database. */
  labels: ContainerLabels;
  /** Docker's state (running, exited...), "running" for a cgroup Docker did not list, "removed" from the state only. */
  state: string;
  inDocker: boolean;
  cgroup?: ContainerPath;
  stateRow?: ContainerRow;
  /** Last time anything saw it (the state database's last_seen), for choosing among reused names. */
  lastSeenMs?: number;
}

export interface KnownContainers {
  docker?: readonly DockerListed[];
  cgroups?: ReadonlyMap<string, ContainerPath>;
  state?: readonly ContainerRow[];
}

/** Merge the three lists into one candidate per container id. */
export function candidates(known: KnownContainers): Map<string, Candidate> {
  const out = new Map<string, Candidate>();
  const blank = (id: string): Candidate => ({
    id,
    labels: labelsOf(id, undefined),
    state: 'removed',
    inDocker: false,
  });
  for (const row of known.state ?? []) {
    const c = blank(row.id);
    try {
      c.labels = labelsOf(row.id, JSON.parse(row.labels) as NamedLabels);
    } catch {
      // a row with unreadable labels still has its id
    }
    c.stateRow = row;
    c.lastSeenMs = row.last_seen_ms;
    out.set(row.id, c);
  }
  for (const d of known.docker ?? []) {
    const c = out.get(d.id) ?? blank(d.id);
    // Docker's name and image are the container's now; its other labels, where Docker tells them.
    c.labels = labelsOf(d.id, { ...c.labels, name: '', image: '', ...d.meta });
    c.state = d.state;
    c.inDocker = true;
    out.set(d.id, c);
  }
  for (const [id, path] of known.cgroups ?? []) {
    const c = out.get(id) ?? blank(id);
    c.cgroup = path;
    if (!c.inDocker) c.state = 'running';
    out.set(id, c);
  }
  return out;
}

export type Resolution =
  | { kind: 'found'; candidate: Candidate; note?: string }
  | { kind: 'ambiguous'; matches: Candidate[] }
  | { kind: 'not-found'; similar: Candidate[] };

/** Names a container answers to: its Docker name, and for a pod container namespace/pod/container and pod/container. */
function namesOf(c: Candidate): string[] {
  const { name, namespace, pod, container } = c.labels;
  const names = [name];
  if (pod) {
    names.push(`${pod}/${container}`);
    if (namespace) names.push(`${namespace}/${pod}/${container}`);
  }
  return names.filter((n) => n !== '');
}

/**
 * Resolve `arg`: an exact name first (Docker names are unique, but the state database remembers earlier
 * containers that had the same name: the one Docker knows, else the most recently seen, wins), then the
 * full id, then an id prefix (ambiguous when several match), like `docker inspect` does.
 */
export function resolveContainer(arg: string, all: ReadonlyMap<string, Candidate>): Resolution {
  const list = [...all.values()];
  const byName = list.filter((c) => namesOf(c).includes(arg));
  if (byName.length > 0) {
    const ranked = byName.sort(
      (a, b) =>
        Number(b.inDocker) - Number(a.inDocker) ||
        Number(!!b.cgroup) - Number(!!a.cgroup) ||
        (b.lastSeenMs ?? 0) - (a.lastSeenMs ?? 0),
    );
    const chosen = ranked[0] as Candidate;
    const earlier = ranked.length - 1;
    return earlier > 0
      ? {
          kind: 'found',
          candidate: chosen,
          note: `${earlier} earlier container${earlier === 1 ? '' : 's'} named ${arg} are in the state database; showing ${chosen.id.slice(0, 12)}`,
        }
      : { kind: 'found', candidate: chosen };
  }
  const lower = arg.toLowerCase();
  if (/^[0-9a-f]+$/.test(lower)) {
    const exact = all.get(lower);
    if (exact) return { kind: 'found', candidate: exact };
    const prefixed = list.filter((c) => c.id.startsWith(lower));
    if (prefixed.length === 1) return { kind: 'found', candidate: prefixed[0] as Candidate };
    if (prefixed.length > 1)
      return { kind: 'ambiguous', matches: prefixed.sort((a, b) => a.id.localeCompare(b.id)) };
  }
  const similar = list.filter((c) => namesOf(c).some((n) => n.toLowerCase().includes(lower))).slice(0, 10);
  return { kind: 'not-found', similar };
}

export function describeCandidate(c: Candidate): string {
  const { name: own, pod, container, image } = c.labels;
  const name = own || (pod ? `${pod}/${container}` : '(no name)');
  return `${c.id.slice(0, 12)}  ${name}  ${c.state}${image ? `  ${image}` : ''}`;
}

/**
 * The error for a container argument that names no single container. An ambiguous prefix exits 2 (a
 * usage error: the argument must be made longer, nothing was looked at); an unknown container exits 1 (the
 * argument is fine, there is no such container), as `docker inspect` does.
 */
export function resolutionError(
  arg: string,
  r: Exclude<Resolution, { kind: 'found' }>,
  searched: string[],
): OomwatchError {
  if (r.kind === 'ambiguous') {
    return new OomwatchError(
      'OOMW_AMBIGUOUS',
      [
        `oomwatch: "${arg}" matches ${r.matches.length} containers; give more of the id or the name:`,
        ...r.matches.map((c) => `  ${describeCandidate(c)}`),
      ].join('\n'),
      2,
    );
  }
  const lines = [`oomwatch: no container matches "${arg}" (searched ${searched.join(', ')}).`];
  if (r.similar.length > 0) lines.push('Did you mean:', ...r.similar.map((c) => `  ${describeCandidate(c)}`));
  else lines.push('List containers with "docker ps -a" or "oomwatch top --once".');
  return new OomwatchError('OOMW_NOT_FOUND', lines.join('\n'), 1);
}
