import { ExpositionWriter, formatValue } from '../../src/metrics/exposition';
import { MetricsRenderer } from '../../src/metrics/render';
import { SelfMetrics } from '../../src/metrics/self';
import { ContainerTable } from '../../src/state/containers';

/**
 * The exposition is written as bytes into a buffer of its own, integers digit by digit. The text must be what
 * the format says whatever the path: every value formatted as formatValue does, label text passed as
 * string or as pre-encoded bytes giving the same line, UTF-8 kept, and a payload's buffer given back once it
 * is written out without taking another payload with it.
 */
const VALUES = [
  0, -0, 1, 9, 10, 99, 100, 4096, 123456789, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 9223372036854771712, 1e21,
  -1, -4096, 0.5, 1 / 3, 1e-7, 123.456, NaN, Infinity, -Infinity,
]; // prettier-ignore

describe.each(['prometheus', 'openmetrics'] as const)('ExpositionWriter (%s)', (format) => {
  it.each(VALUES.map((v) => [formatValue(v), v]))('writes %s as formatValue does', (text, v) => {
    const w = new ExpositionWriter(format);
    w.sample('m', '', v);
    w.sample('m', 'a="b"', v);
    w.encodedSample(Buffer.from('m'), Buffer.from('a="b"'), v);
    const eof = format === 'openmetrics' ? '# EOF\n' : '';
    expect(w.finish()).toBe(`m ${text}\nm{a="b"} ${text}\nm{a="b"} ${text}\n${eof}`);
  });

  it('keeps UTF-8 in help and label text, and grows past its first buffer', () => {
    const w = new ExpositionWriter(format, 1);
    const labels = 'name="café ☕",image="ü\\"q\\\\"';
    w.family('m_total', 'counter', 'Ünïcode help with a \\ and a\nnewline');
    for (let i = 0; i < 5000; i++) w.encodedSample(Buffer.from('m_total'), Buffer.from(labels, 'utf8'), i);
    const text = w.finish();
    const family = format === 'openmetrics' ? 'm' : 'm_total';
    expect(
      text.startsWith(
        `# HELP ${family} Ünïcode help with a \\\\ and a\\nnewline\n# TYPE ${family} counter\n`,
      ),
    ).toBe(true);
    expect(text).toContain(`m_total{${labels}} 4999\n`);
    expect(text.split('\n').filter((l) => l.startsWith('m_total{')).length).toBe(5000);
  });
});

describe('MetricsRenderer releasing each payload once written out', () => {
  it('gives back the memory of a payload, and writes the next scrape in full, a smaller one after a larger one included', async () => {
    const table = new ContainerTable();
    const renderer = new MetricsRenderer(table, new SelfMetrics({ processMetrics: false }));
    for (let i = 0; i < 200; i++) {
      const e = table.ensure(i.toString(16).padStart(64, '0'), 0);
      e.sample = { readAtMs: 0, usage: 1000 + i, limit: Infinity };
    }
    const big = await renderer.renderBytes('prometheus');
    const bigText = big.toString('utf8');
    renderer.release(big);
    // nothing of it is held until the next scrape
    expect(big.buffer.byteLength).toBe(0);
    expect(big.length).toBe(0);

    // the same content again, in a buffer of its own
    expect(stripVolatile(await renderer.render('prometheus'))).toBe(stripVolatile(bigText));

    for (const e of [...table.values()].slice(1)) table.markGone(e, 0);
    table.sweep(1, 0);
    const small = await renderer.render('prometheus');
    expect(small.length).toBeLessThan(bigText.length);
    expect(small).toContain('oomwatch_container_memory_usage_bytes{id="000000000000"');
    expect(small).not.toContain('id="0000000000c7"');
    expect(small.endsWith('\n')).toBe(true);
    expect(
      small.split('\n').filter((l) => l.startsWith('oomwatch_container_memory_usage_bytes{')).length,
    ).toBe(1);
    // and it is what a renderer with no history writes
    const fresh = new MetricsRenderer(table, new SelfMetrics({ processMetrics: false }));
    expect(stripVolatile(await fresh.render('prometheus'))).toBe(stripVolatile(small));
  });

  it('keeps each of two payloads rendered before either is released', async () => {
    const table = new ContainerTable();
    const renderer = new MetricsRenderer(table, new SelfMetrics({ processMetrics: false }));
    for (let i = 0; i < 50; i++) {
      const e = table.ensure(i.toString(16).padStart(64, '0'), 0);
      e.sample = { readAtMs: 0, usage: 1000 + i, limit: Infinity };
    }
    const first = await renderer.renderBytes('prometheus');
    const second = await renderer.renderBytes('openmetrics');
    const secondText = second.toString('utf8');
    renderer.release(first);
    expect(second.toString('utf8')).toBe(secondText);
    const usage = secondText
      .split('\n')
      .filter((l) => l.startsWith('oomwatch_container_memory_usage_bytes{'));
    expect(usage.map((l) => l.slice(l.lastIndexOf(' ') + 1))).toEqual(
      Array.from({ length: 50 }, (_, i) => String(1000 + i)),
    );
    expect(secondText.endsWith('# EOF\n')).toBe(true);
  });
});

/** Build info and timings differ between two SelfMetrics; the container families must not. */
function stripVolatile(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.includes('oomwatch_container_'))
    .join('\n');
}
