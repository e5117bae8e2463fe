import type { EventWriteResult } from '../sources/kubernetes/events';
import type { PodContainerSeries } from '../sources/kubernetes/pod-source';
import { renderLabels } from './exposition';
import type { FamilyWriter } from './render';

/** What the Kubernetes pod source knows, as the families below read it. */
export interface PodSeriesView {
  containerSeries(): Iterable<Readonly<PodContainerSeries>>;
  readonly podCount: number;
  readonly stats: { readonly lists: number; readonly watchRestarts: Readonly<Record<string, number>> };
}

/** Each series' label text, rendered once per series object. */
const labelTexts = new WeakMap<Readonly<PodContainerSeries>, string>();

function labelText(s: Readonly<PodContainerSeries>): string {
  let text = labelTexts.get(s);
  if (text === undefined) {
    text = renderLabels({ namespace: s.namespace, pod: s.pod, container: s.container });
    labelTexts.set(s, text);
  }
  return text;
}

/**
 * The pods of this node as the Kubernetes API tells them: restarts, the kubelet's OOM terminations, memory
 * requests and limits per pod container, and the list/watch health of the pod source. Gauges of a deleted
 * pod's containers go at once; counters stay for the series grace period.
 */
export function kubernetesPodFamilies(pods: PodSeriesView): FamilyWriter {
  return (w) => {
    const present = [...pods.containerSeries()];
    const family = (
      name: string,
      type: 'counter' | 'gauge',
      help: string,
      value: (s: Readonly<PodContainerSeries>) => number | undefined,
    ): void => {
      let header = false;
      for (const s of present) {
        if (type === 'gauge' && s.goneAtMs !== undefined) continue;
        const v = value(s);
        if (v === undefined) continue;
        if (!header) {
          w.family(name, type, help);
          header = true;
        }
        w.sample(name, labelText(s), v);
      }
    };
    family(
      'oomwatch_pod_container_restarts_total',
      'counter',
      "Restarts of the pod's container as the kubelet counts them (status restartCount).",
      (s) => s.restarts,
    );
    family(
      'oomwatch_pod_container_kubelet_oom_terminations_total',
      'counter',
      'Terminations of the container the kubelet reported as OOMKilled (pod status lastState/state terminated), each run counted once, since oomwatch started: a cross-check of oomwatch_container_oom_kills_total, which also counts kills of processes that did not end the container.',
      (s) => s.kubeletOomKills,
    );
    family(
      'oomwatch_pod_container_memory_request_bytes',
      'gauge',
      "Memory request of the pod's container (spec resources.requests.memory); absent when unset.",
      (s) => s.requestBytes,
    );
    family(
      'oomwatch_pod_container_memory_spec_limit_bytes',
      'gauge',
      "Memory limit in the pod's spec (resources.limits.memory), beside the cgroup's own oomwatch_container_memory_limit_bytes; absent when unset.",
      (s) => s.limitBytes,
    );
    w.family('oomwatch_kubernetes_pods', 'gauge', 'Pods on this node known from the Kubernetes API.');
    w.sample('oomwatch_kubernetes_pods', '', pods.podCount);
    w.family(
      'oomwatch_kubernetes_pod_lists_total',
      'counter',
      "Full lists of this node's pods (at start and after a watch expired).",
    );
    w.sample('oomwatch_kubernetes_pod_lists_total', '', pods.stats.lists);
    w.family(
      'oomwatch_kubernetes_watch_restarts_total',
      'counter',
      'Pod watches ended and started again, by reason: closed (the server ended it, normal), expired (410 Gone: listed again), error (connection or API error: retried with backoff).',
    );
    for (const [reason, n] of Object.entries(pods.stats.watchRestarts))
      w.sample('oomwatch_kubernetes_watch_restarts_total', `reason="${reason}"`, n);
  };
}

/** oomwatch_kubernetes_oom_events_total{result}: the Kubernetes Events written for OOM kills. */
export function kubernetesEventFamilies(writer: {
  readonly results: Readonly<Record<EventWriteResult, number>>;
}): FamilyWriter {
  return (w) => {
    w.family(
      'oomwatch_kubernetes_oom_events_total',
      'counter',
      'Kubernetes Events (reason OOMKilling) written for OOM kills, by result: created, patched (a repeated kill aggregated into count), failed, rate_limited (dropped by the per-object spam filter).',
    );
    for (const [result, n] of Object.entries(writer.results))
      w.sample('oomwatch_kubernetes_oom_events_total', `result="${result}"`, n);
  };
}

/** Every Kubernetes family of a setup, in the order /metrics writes them. */
export function kubernetesFamilies(setup: {
  pods?: PodSeriesView;
  writer?: { readonly results: Readonly<Record<EventWriteResult, number>> };
}): FamilyWriter[] {
  return [
    ...(setup.pods ? [kubernetesPodFamilies(setup.pods)] : []),
    ...(setup.writer ? [kubernetesEventFamilies(setup.writer)] : []),
  ];
}
