import { randomUUID } from 'node:crypto';
import { randomHex } from '../helpers/cgroup-v1';

/**
 * The containers a VM scenario creates, chosen by the suite and handed to the guest as environment variables:
 * CONTAINERS lists the names, ID_<name> is the 64-hex container id and CG_<name> its cgroup path relative to
 * the v2 root. guest/lib.sh reads them with `id_of NAME` and `cg_of NAME`.
 */
export interface VmContainer {
  /** A shell-safe name the scenario and the suite both use (systemd, cgroupfs, k8s, ...). */
  name: string;
  id: string;
  /** Relative to the cgroup v2 root, as the runtime creates it. */
  cgroup: string;
  /** The pod, for Kubernetes layouts. */
  podUid?: string;
}

export type Layout = 'docker-systemd' | 'docker-cgroupfs' | 'k8s-systemd';

/**
 * A container in one of the layouts Docker and Kubernetes create on cgroup v2: a new random id (and pod UID)
 * unless given.
 */
export function container(
  name: string,
  layout: Layout,
  given: { id?: string; podUid?: string } = {},
): VmContainer {
  const id = given.id ?? randomHex(64);
  switch (layout) {
    case 'docker-systemd':
      return { name, id, cgroup: `system.slice/docker-${id}.scope` };
    case 'docker-cgroupfs':
      return { name, id, cgroup: `docker/${id}` };
    case 'k8s-systemd': {
      // The kubelet's systemd driver escapes the pod UID's dashes as underscores in the slice name.
      const podUid = given.podUid ?? randomUUID();
      const pod = `kubepods-burstable-pod${podUid.replace(/-/g, '_')}.slice`;
      return {
        name,
        id,
        podUid,
        cgroup: `kubepods.slice/kubepods-burstable.slice/${pod}/cri-containerd-${id}.scope`,
      };
    }
  }
}

/** One container in each layout, named systemd, cgroupfs and k8s. */
export function oneOfEachLayout(): VmContainer[] {
  return [
    container('systemd', 'docker-systemd'),
    container('cgroupfs', 'docker-cgroupfs'),
    container('k8s', 'k8s-systemd'),
  ];
}

/** The environment that hands `containers` to the guest. */
export function containerEnv(containers: readonly VmContainer[]): Record<string, string> {
  const env: Record<string, string> = { CONTAINERS: containers.map((c) => c.name).join(' ') };
  for (const c of containers) {
    if (!/^[a-z][a-z0-9_]*$/.test(c.name))
      throw new Error(`container name "${c.name}" is not a shell-safe word`);
    env[`ID_${c.name}`] = c.id;
    env[`CG_${c.name}`] = c.cgroup;
  }
  return env;
}

/** The 12-hex id oomwatch's series carry. */
export const shortId = (c: VmContainer): string => c.id.slice(0, 12);
