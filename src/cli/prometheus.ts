/**
 * The one question `recommend --prometheus` asks a Prometheus server: the highest working set of a container
 * (or of all containers of a Compose service) over the window, and since when there is data. Instant
 * queries through the HTTP API (`GET /api/v1/query`), nothing else.
 */

export const WORKING_SET_METRIC = 'oomwatch_container_memory_working_set_bytes';

export interface PrometheusPeak {
  bytes: number;
  /** Earliest time in the window with a sample, so the caller knows how much history there really is. */
  firstSampleMs?: number;
}

/** A label matcher value, escaped for PromQL's double-quoted strings. */
function quoteLabel(v: string): string {
  return JSON.stringify(v);
}

/** Pure: the label selector of a container, or of its Compose service (which outlives container ids). */
export function selectorFor(c: {
  shortId: string;
  composeProject?: string;
  composeService?: string;
}): string {
  if (c.composeProject && c.composeService) {
    return `{compose_project=${quoteLabel(c.composeProject)},compose_service=${quoteLabel(c.composeService)}}`;
  }
  return `{id=${quoteLabel(c.shortId)}}`;
}

/** Pure: a duration in Prometheus' syntax, whole seconds. */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

/** Pure: the two PromQL queries for a selector over a window. */
export function peakQueries(selector: string, windowMs: number): { peak: string; firstSample: string } {
  const w = promDuration(windowMs);
  return {
    peak: `max(max_over_time(${WORKING_SET_METRIC}${selector}[${w}]))`,
    // A subquery at one-minute steps: the first minute that has a sample.
    firstSample: `min(min_over_time(timestamp(${WORKING_SET_METRIC}${selector})[${w}:1m]))`,
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

  async peak(selector: string, windowMs: number): Promise<PrometheusPeak | undefined> {
    const q = peakQueries(selector, windowMs);
    const bytes = await this.query(q.peak);
    if (bytes === undefined) return undefined;
    const first = await this.query(q.firstSample);
    return first === undefined ? { bytes } : { bytes, firstSampleMs: first * 1000 };
  }
}
