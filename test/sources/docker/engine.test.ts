import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  engineFromVersion,
  infraIdsFromLibpodList,
  isInfraFromLibpodInspect,
} from '../../../src/sources/docker/engine';
import { FIXTURES } from '../../helpers/paths';

/**
 * Docker or Podman behind the socket, from /version bodies captured on this machine: Docker Engine 20.10
 * (test/fixtures/docker/capture.sh) and Podman 4.3.1's Docker-compatible API (test/fixtures/podman/capture.sh);
 * and Podman's own list and inspect, which say which container is a pod's infra container.
 */
const read = (...p: string[]): unknown =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, ...p), 'utf8')) as unknown;
const podmanVersion = read('podman', 'version.json') as Record<string, unknown>;
const expected = read('podman', 'expected.json') as { pod: { infra: string; id: string } };

describe('engineFromVersion', () => {
  it("tells Podman by its component's name, with the libpod API version of its own endpoints", () => {
    expect(engineFromVersion(podmanVersion)).toEqual({
      kind: 'podman',
      version: '4.3.1',
      libpodApiVersion: '4.3.1',
      oomKilledReliable: false,
    });
  });

  it('takes Docker for Docker', () => {
    expect(engineFromVersion(read('docker', 'version.json'))).toEqual({
      kind: 'docker',
      version: '20.10.24+dfsg1',
      oomKilledReliable: true,
    });
  });

  it.each([
    ['5.0.0', true],
    ['5.4.2', true],
    ['4.9.4', false],
    ['3.4.4', false],
  ])("believes State.OOMKilled from Podman %s: %s (conmon's OOM marker is read from 5.0)", (v, reliable) => {
    const components = (podmanVersion['Components'] as Array<Record<string, unknown>>).map((c, i) =>
      i === 0 ? { ...c, Version: v, Details: { ...(c['Details'] as object), APIVersion: v } } : c,
    );
    const engine = engineFromVersion({ ...podmanVersion, Version: v, Components: components });
    expect(engine).toMatchObject({ kind: 'podman', version: v, libpodApiVersion: v });
    expect(engine.oomKilledReliable).toBe(reliable);
  });

  it.each([[undefined], [null], ['text'], [{}], [{ Components: 'x' }], [{ Components: [null, 1] }]])(
    'takes a body that says nothing (%p) for Docker',
    (body) => {
      expect(engineFromVersion(body).kind).toBe('docker');
    },
  );
});

describe("Podman's infra containers", () => {
  it('are the entries with IsInfra in its own list', () => {
    expect([...infraIdsFromLibpodList(read('podman', 'libpod-containers.json'))]).toEqual([
      expected.pod.infra,
    ]);
  });

  it("and its own inspect says so of the pod's infra container", () => {
    expect(isInfraFromLibpodInspect(read('podman', 'libpod-inspect-infra.json'))).toBe(true);
  });

  it.each([[undefined], [{}], [[{ Id: 'x' }]], [[{ IsInfra: true }]], [[null]]])(
    'find none in a body without them (%p)',
    (body) => {
      expect(infraIdsFromLibpodList(body).size).toBe(0);
      expect(isInfraFromLibpodInspect(body)).toBe(false);
    },
  );
});
