import type { ContainerLabels } from '../state/labels';

/**
 * The one question `recommend --prometheus` asks a Prometheus server: the highest working set of a container
 * (or of all containers of a Compose service) over the window, and since when there is data. Instant
 * queries through the HTTP API (`GET /api/v1/query`), nothing else.
 */

export const WORKING_SET_METRIC = 'oomwatch_container_memory_working_set_bytes';

export interface PrometheusPeak {
  bytes: number;
  /** Earliest time in the window with a sample, so the caller knows how much history there really is. */
  firstSampleMs: number;
}

/** A label matcher value, escaped for PromQL's double-quoted strings. */
function quoteLabel(v: string): string {
  return JSON.stringify(v);
}

/** Pure: the label selector of a container, or of its Compose service (which outlives container ids). */
export function selectorFor(
  labels: Pick<ContainerLabels, 'id' | 'compose_project' | 'compose_service'>,
): string {
  if (labels.compose_project && labels.compose_service) {
    return `{compose_project=${quoteLabel(labels.compose_project)},compose_service=${quoteLabel(labels.compose_service)}}`;
  }
  return `{id=${quoteLabel(labels.id)}}`;
}

/** Pure: a duration in Prometheus' syntax, whole seconds. */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

/**
 * The step of the first-sample subquery: about 10,000 steps over the window (a minute for 7 days), at least
 * a second. Data younger than one step has no step to show in; its age is then "less than a step".
 */
export function firstSampleStepMs(windowMs: number): number {
  return Math.max(1000, Math.ceil(windowMs / 10_000 / 1000) * 1000);
}

/** Pure: the two PromQL queries for a selector over a window. */
export function peakQueries(selector: string, windowMs: number): { peak: string; firstSample: string } {
  const w = promDuration(windowMs);
  return {
    peak: `max(max_over_time(${WORKING_SET_METRIC}${selector}[${w}]))`,
    // A subquery: the earliest step in the window at which the series has a sample.
    firstSample: `min(min_over_time(timestamp(${WORKING_SET_METRIC}${selector})[${w}:${promDuration(firstSampleStepMs(windowMs))}]))`,
  };
}

export class PrometheusError extends Error {}

interface QueryResponse {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: Array<{ value?: [number, string] }> };
}

/** Pure: the single value of an instant-vector answer, undefined when the vector is empty. */
export function singleValue(body: QueryResponse): number | undefined {
  if (body.status !== 'success') throw new PrometheusError(body.error ?? 'query failed');
  const first = body.data?.result?.[0]?.value?.[1];
  if (first === undefined) return undefined;
  const n = Number(first);
  return Number.isFinite(n) ? n : undefined;
}

export class PrometheusClient {
  constructor(readonly baseUrl: string) {}

  private async query(promql: string): Promise<number | undefined> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(promql)}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new PrometheusError(
        `cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
    let body: QueryResponse;
    try {
      body = (await res.json()) as QueryResponse;
    } catch {
      throw new PrometheusError(
        `${this.baseUrl} answered ${res.status} with something that is not the Prometheus API`,
      );
    }
    return singleValue(body);
  }

  async peak(selector: string, windowMs: number, now = Date.now()): Promise<PrometheusPeak | undefined> {
    const q = peakQueries(selector, windowMs);
    const bytes = await this.query(q.peak);
    if (bytes === undefined) return undefined;
    const first = await this.query(q.firstSample);
    // No step has a sample yet: the series is younger than one step.
    return { bytes, firstSampleMs: first === undefined ? now - firstSampleStepMs(windowMs) : first * 1000 };
  }
}
