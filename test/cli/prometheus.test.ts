import {
  PrometheusError,
  firstSampleStepMs,
  peakQueries,
  promDuration,
  selectorFor,
  singleValue,
} from '../../src/cli/prometheus';

describe('the PromQL of recommend --prometheus', () => {
  it.each([
    [{ id: '3f2a9c0d1e2b', compose_project: '', compose_service: '' }, '{id="3f2a9c0d1e2b"}'],
    [{ id: '3f2a9c0d1e2b', compose_project: 'shop', compose_service: '' }, '{id="3f2a9c0d1e2b"}'],
    [
      { id: '3f2a9c0d1e2b', compose_project: 'shop', compose_service: 'web' },
      '{compose_project="shop",compose_service="web"}',
    ],
    [
      { id: 'x', compose_project: 'we"ird', compose_service: 'a\\b' },
      '{compose_project="we\\"ird",compose_service="a\\\\b"}',
    ],
  ])('selector of %p is %p', (c, selector) => {
    expect(selectorFor(c)).toBe(selector);
  });

  it('asks for the max over the window and the first sample in it', () => {
    expect(promDuration(7 * 86_400_000)).toBe('604800s');
    expect(peakQueries('{id="abc"}', 3_600_000)).toEqual({
      peak: 'max(max_over_time(oomwatch_container_memory_working_set_bytes{id="abc"}[3600s]))',
      firstSample:
        'min(min_over_time(timestamp(oomwatch_container_memory_working_set_bytes{id="abc"})[3600s:1s]))',
    });
    expect(peakQueries('{id="abc"}', 7 * 86_400_000).firstSample).toMatch(/\[604800s:61s\]\)\)$/);
  });

  it.each([
    [3_600_000, 1000],
    [86_400_000, 9000],
    [7 * 86_400_000, 61_000],
  ])('a %p ms window is stepped every %p ms (about 10,000 steps, whole seconds)', (windowMs, step) => {
    expect(firstSampleStepMs(windowMs)).toBe(step);
  });

  it.each([
    [
      {
        status: 'success',
        data: { resultType: 'vector', result: [{ value: [1, '123456'] as [number, string] }] },
      },
      123456,
    ],
    [{ status: 'success', data: { resultType: 'vector', result: [] } }, undefined],
  ])('reads the single value of %j', (body, value) => {
    expect(singleValue(body)).toBe(value);
  });

  it('turns an API error into a PrometheusError with its message', () => {
    expect(() => singleValue({ status: 'error', error: 'parse error at char 3' })).toThrow(PrometheusError);
    expect(() => singleValue({ status: 'error', error: 'parse error at char 3' })).toThrow(
      'parse error at char 3',
    );
  });
});
