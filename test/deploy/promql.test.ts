import { selectedMetrics } from '../helpers/promql';

describe('selectedMetrics (the metric names a PromQL query selects)', () => {
  it.each<[string, string[]]>([
    ['up', ['up']],
    ['up{job="oomwatch"} == 0', ['up']],
    [
      'rate(oomwatch_container_memory_pressure_some_seconds_total[5m]) > 0.1',
      ['oomwatch_container_memory_pressure_some_seconds_total'],
    ],
    [
      'sum by (name, instance) (increase(oomwatch_container_oom_kills_total{name=~"$name"}[$__rate_interval]))',
      ['oomwatch_container_oom_kills_total'],
    ],
    [
      'predict_linear(oomwatch_container_memory_working_set_bytes[30m], 3600) >= oomwatch_container_memory_limit_bytes',
      ['oomwatch_container_memory_limit_bytes', 'oomwatch_container_memory_working_set_bytes'],
    ],
    ['x > 0 unless last_over_time(x[1h] offset 5m) and on (job, instance) (up offset 5m == 1)', ['up', 'x']],
    [
      'histogram_quantile(0.99, sum by (le) (rate(oomwatch_poll_duration_seconds_bucket[5m])))',
      ['oomwatch_poll_duration_seconds_bucket'],
    ],
    ['topk(10, a) * on (id) group_left (label_team) b', ['a', 'b']],
    ['label_replace(a, "dst", "$1", "src", "(.*)")', ['a']],
    ['a / 1e3 + 2.5e-1', ['a']],
    ['sum without (id, image) (a - a offset 1h or a)', ['a']],
    ['absent(up{job="oomwatch"})', ['up']],
  ])('%s', (expr, names) => {
    expect(selectedMetrics(expr)).toEqual(names);
  });
});
