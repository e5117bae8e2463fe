/**
 * Which engine answers the Docker Engine API on a socket: Docker itself, or Podman's Docker-compatible API
 * (`podman system service`). Both answer `GET /version`; Podman names itself in the first component, as
 * Podman 4.3.1 does here (test/fixtures/podman/version.json):
 *
 *   {"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1",
 *    "Details":{"APIVersion":"4.3.1",…,"MinAPIVersion":"4.0.0",…}},{"Name":"Conmon",…}],"Version":"4.3.1",
 *    "ApiVersion":"1.41","MinAPIVersion":"1.24",…}
 *
 * Docker's first component is "Engine". Pure: the parsed body in, a typed value out.
 */

export type EngineKind = 'docker' | 'podman';

export interface Engine {
  kind: EngineKind;
  /** The engine's own version ("4.3.1", "27.5.1"); '' when /version did not say. */
  version: string;
  /** Podman's libpod API version (`Details.APIVersion` of its component): the `/v<version>/libpod/` prefix. */
  libpodApiVersion?: string;
  /**
   * Whether inspect's `State.OOMKilled` can be believed. Docker's: yes. Podman before 5.0: no, it is always
   * false: conmon writes its OOM marker into its working directory and Podman looks for it in the bundle
   * (conmon issue 504, Podman issue 13102, fixed in 5.0), so oomwatch never reads it from those.
   */
  oomKilledReliable: boolean;
}

/** The name Podman gives its component in /version (libpod's compat version handler). */
const PODMAN_COMPONENT = 'Podman Engine';

/** The engine behind a `/version` body; Docker when nothing says Podman (a body that is not an object too). */
export function engineFromVersion(body: unknown): Engine {
  const v = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const version = typeof v['Version'] === 'string' ? v['Version'] : '';
  const components = Array.isArray(v['Components']) ? (v['Components'] as unknown[]) : [];
  const podman = components.find(
    (c): c is Record<string, unknown> =>
      c !== null && typeof c === 'object' && (c as Record<string, unknown>)['Name'] === PODMAN_COMPONENT,
  );
  if (podman === undefined) return { kind: 'docker', version, oomKilledReliable: true };
  const own = typeof podman['Version'] === 'string' ? podman['Version'] : version;
  const details = podman['Details'];
  const apiVersion =
    details !== null && typeof details === 'object'
      ? (details as Record<string, unknown>)['APIVersion']
      : undefined;
  const engine: Engine = { kind: 'podman', version: own, oomKilledReliable: majorOf(own) >= 5 };
  const numeric = /^\d+(?:\.\d+)*/.exec(typeof apiVersion === 'string' ? apiVersion : own);
  if (numeric) engine.libpodApiVersion = numeric[0];
  return engine;
}

/** The major version of "4.3.1" or "5.0.0-rc1"; 0 when it does not start with a number. */
function majorOf(version: string): number {
  const m = /^(\d+)/.exec(version);
  return m ? Number(m[1]) : 0;
}

/**
 * The ids of a pod's infra containers in Podman's own container list (`GET /v<version>/libpod/containers/json
 * ?all=true`, whose entries carry `IsInfra`; the Docker-compatible list does not say). The infra container
 * holds the pod's namespaces (`catatonit -P`, or the image of `--infra-image`): not a workload.
 */
export function infraIdsFromLibpodList(raw: unknown): Set<string> {
  const out = new Set<string>();
  if (!Array.isArray(raw)) return out;
  for (const c of raw as unknown[]) {
    if (c === null || typeof c !== 'object') continue;
    const r = c as Record<string, unknown>;
    if (r['IsInfra'] === true && typeof r['Id'] === 'string') out.add(r['Id']);
  }
  return out;
}

/** Whether Podman's own inspect (`GET /v<version>/libpod/containers/{id}/json`) says a pod's infra container. */
export function isInfraFromLibpodInspect(raw: unknown): boolean {
  return raw !== null && typeof raw === 'object' && (raw as Record<string, unknown>)['IsInfra'] === true;
}
