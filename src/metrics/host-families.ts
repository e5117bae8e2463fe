import type { Scope } from '../state/oom-kill';
import type { FamilyWriter } from './render';

/** oomwatch_oom_kills_total{scope}: every OOM kill on the host, from the ledger's host-wide counts. */
export function hostKillFamilies(host: { readonly scopes: Readonly<Record<Scope, number>> }): FamilyWriter {
  return (w) => {
    w.family(
      'oomwatch_oom_kills_total',
      'counter',
      'Processes killed by the OOM killer on this host, by scope: container (a container hit its limit), system (the host ran out of memory, whatever the victim), other (a cgroup that is not a container, or kills no source could attribute).',
    );
    for (const s of ['container', 'system', 'other'] as const)
      w.sample('oomwatch_oom_kills_total', `scope="${s}"`, host.scopes[s]);
  };
}
