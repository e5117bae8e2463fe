import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type ContainerEvent,
  type ParsedLine,
  labelsFromAttributes,
  parseEventLine,
} from '../../../src/sources/docker/events';
import { FIXTURES } from '../../helpers/paths';

/**
 * The event parser over the Docker-compatible `/events` stream of a real Podman 4.3.1, captured on this
 * machine by test/fixtures/podman/capture.sh; expected.json holds what Podman itself said of each scenario.
 */
const DIR = path.join(FIXTURES, 'podman');
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as {
  oom: { id: string; name: string; exitCode: number };
  rm: { name: string; exitCode: number };
  kill: { id: string; name: string; exitCode: number };
  exec: { id: string; name: string; execExitCode: number; runningAfter: boolean };
  pod: { pod: string; infra: string; id: string; name: string };
};
const LINES = fs
  .readFileSync(path.join(DIR, 'events.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l !== '');
const parsed: ParsedLine[] = LINES.map((l) => parseEventLine(l, { engine: 'podman' }));
const events = (rs: ParsedLine[]): ContainerEvent[] =>
  rs.flatMap((r) => (r.kind === 'event' ? [r.event] : []));
const named = (name: string): ContainerEvent[] => events(parsed).filter((e) => e.attributes['name'] === name);
const actionsOf = (name: string): string[] => named(name).map((e) => e.action);

describe("Podman's Docker-compatible event stream, captured from a real Podman 4.3.1", () => {
  it('parses without an error, every event on a full container id with its exact timeNano', () => {
    expect(parsed.filter((r) => r.kind === 'error')).toEqual([]);
    for (const e of events(parsed)) {
      expect(e.id).toMatch(/^[0-9a-f]{64}$/);
      expect(e.legacy).toBe(false);
      expect(e.timeNano).toBeGreaterThan(1_700_000_000_000_000_000n);
    }
  });

  it('oom: create, start, die with the exit code podman wait gave, and remove taken as destroy; no oom event', () => {
    expect(actionsOf(expected.oom.name)).toEqual(['create', 'start', 'die', 'destroy']);
    expect(named(expected.oom.name).find((e) => e.action === 'die')).toMatchObject({
      id: expected.oom.id,
      exitCode: expected.oom.exitCode,
    });
    expect(expected.oom.exitCode).toBe(137);
  });

  it('--rm: die 137 then remove, nothing after', () => {
    expect(actionsOf(expected.rm.name)).toEqual(['create', 'start', 'die', 'destroy']);
    expect(named(expected.rm.name).find((e) => e.action === 'die')).toMatchObject({ exitCode: 137 });
  });

  it('podman kill: a die 137 like an OOM kill (oomwatch tells them apart by the kernel and the cgroup)', () => {
    expect(actionsOf(expected.kill.name)).toEqual(['create', 'start', 'die', 'destroy']);
    expect(named(expected.kill.name).find((e) => e.action === 'die')).toMatchObject({
      exitCode: expected.kill.exitCode,
    });
  });

  it("exec: an exec'd process OOM-killed is exec_died, never a die of the container", () => {
    const line = LINES.find((l) => l.includes('"Action":"exec_died"')) as string;
    expect(JSON.parse(line).Actor.Attributes).toMatchObject({ containerExitCode: '137' });
    expect(parseEventLine(line, { engine: 'podman' })).toEqual({
      kind: 'ignored',
      reason: 'container action "exec_died"',
      timeNano: expect.any(BigInt) as bigint,
    });
    expect(expected.exec).toMatchObject({ execExitCode: 137, runningAfter: true });
    // The container's only die is the one of its removal (rm -f), after the exec.
    expect(actionsOf(expected.exec.name).filter((a) => a === 'die')).toHaveLength(1);
  });

  it("pod: the infra container's create and start carry the pod's id, like its containers' (its die does not)", () => {
    const infra = events(parsed).filter((e) => e.id === expected.pod.infra);
    expect(infra.map((e) => e.action)).toEqual(['create', 'start', 'die', 'destroy']);
    for (const e of [...infra, ...named(expected.pod.name)]) {
      expect(e.attributes['podId']).toBe(e.action === 'die' ? '' : expected.pod.pod);
    }
  });

  it('remove is destroy only from Podman: Docker has no such action', () => {
    const remove = LINES.find((l) => l.includes('"Action":"remove"')) as string;
    expect(parseEventLine(remove, { engine: 'podman' })).toMatchObject({
      kind: 'event',
      event: { action: 'destroy' },
    });
    expect(parseEventLine(remove)).toMatchObject({ kind: 'ignored', reason: 'container action "remove"' });
  });

  it("labels: podman-compose's compose labels, without the name, image, containerExitCode and podId Podman adds", () => {
    const start = named(expected.oom.name).find((e) => e.action === 'start') as ContainerEvent;
    expect(start.attributes).toMatchObject({ containerExitCode: '0', podId: '' });
    expect(labelsFromAttributes(start.attributes, 'podman')).toEqual({
      'com.docker.compose.project': 'shop',
      'com.docker.compose.service': 'cart',
    });
  });
});
