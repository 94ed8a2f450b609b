import { describe, expect, it } from 'vitest';
import { barChartSvg, barLength, escapeXml, formatValue, LAYOUT, plainLabel } from '../src/svg-chart.js';

/** The widths of the bars (`<rect … width=…>` after the background and the legend swatches). */
function barWidths(svg: string): number[] {
  return [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="14"/g)].map((m) =>
    Number(m[1]),
  );
}

describe('escapeXml and labels', () => {
  it('escapes the five XML specials', () => {
    expect(escapeXml(`a<b>&"c"'d'`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;');
  });

  it('drops Markdown code and emphasis marks and cuts long labels with an ellipsis', () => {
    expect(plainLabel('`cache.get` **fast**')).toBe('cache.get fast');
    const long = plainLabel('x'.repeat(100), 10);
    expect(long).toHaveLength(10);
    expect(long.endsWith('…')).toBe(true);
  });

  it('writes labels, titles and legends escaped: no raw markup from a label reaches the SVG', () => {
    const svg = barChartSvg({
      title: 'A <title> & more',
      subtitle: 'ops/s "quoted"',
      series: ['p50 <ms>', "p99 'ms'"],
      rows: [{ label: '<script>alert(1)</script> & `Map.get`', values: [1, 2] }],
    });
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; Map.get');
    expect(svg).toContain('A &lt;title&gt; &amp; more');
    expect(svg).toContain('p50 &lt;ms&gt;');
    expect(svg).toContain('p99 &apos;ms&apos;');
    expect(svg).toContain('ops/s &quot;quoted&quot;');
  });

  it('names the chart for screen readers: role img and a first title child with title and subtitle', () => {
    const svg = barChartSvg({
      title: 'Hits & misses',
      subtitle: 'ns/get',
      series: ['v'],
      rows: [{ label: 'a', values: [1] }],
    });
    expect(svg).toMatch(/^<svg [^>]*role="img">\n<title>Hits &amp; misses: ns\/get<\/title>\n/);
  });

  it('keeps the full label in a tooltip when it cuts it', () => {
    const label = `contender ${'y'.repeat(80)}`;
    const svg = barChartSvg({ title: 't', series: ['v'], rows: [{ label, values: [1] }] });
    expect(svg).toContain(`<title>${label}</title>`);
    expect(svg).toContain('…');
  });
});

describe('scaling', () => {
  it('is proportional to the largest value', () => {
    expect(barLength(50, 100, 400)).toBe(200);
    expect(barLength(100, 100, 400)).toBe(400);
    expect(barLength(0, 100, 400)).toBe(0);
    expect(barLength(undefined, 100, 400)).toBe(0);
    expect(barLength(-3, 100, 400)).toBe(0);
    expect(barLength(5, 0, 400)).toBe(0);
  });

  it('draws bars in proportion, the longest spanning the plot', () => {
    const svg = barChartSvg({
      title: 't',
      series: ['v'],
      rows: [
        { label: 'a', values: [10] },
        { label: 'b', values: [40] },
        { label: 'c', values: [20] },
      ],
    });
    const [a, b, c] = barWidths(svg);
    expect(b).toBeGreaterThan(300);
    expect(a! / b!).toBeCloseTo(0.25, 2);
    expect(c! / b!).toBeCloseTo(0.5, 2);
    expect(svg).toContain('>40.0<');
  });

  it('draws a figure with a zero: no bar for it, its value written, the others scaled', () => {
    const svg = barChartSvg({
      title: 'stale reads',
      series: ['reads'],
      rows: [
        { label: 'ours', values: [0] },
        { label: 'cache-aside', values: [13] },
      ],
    });
    expect(barWidths(svg)).toHaveLength(1);
    expect(svg).toContain('>0<');
    expect(svg).toContain('>13.0<');
    expect(svg).not.toContain('NaN');
  });

  it('draws a figure whose values are all zero without dividing by zero', () => {
    const svg = barChartSvg({
      title: 't',
      series: ['v'],
      rows: [
        { label: 'a', values: [0] },
        { label: 'b', values: [0] },
      ],
    });
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('Infinity');
    expect(barWidths(svg)).toHaveLength(0);
  });

  it('draws a figure with one bar across the plot', () => {
    const svg = barChartSvg({
      title: 'one',
      series: ['req/s'],
      unit: 'req/s',
      rows: [{ label: 'only', values: [8005] }],
    });
    const widths = barWidths(svg);
    expect(widths).toHaveLength(1);
    const labelWidth = Math.ceil(Math.max(40, 'only'.length * LAYOUT.charWidth) + 10);
    expect(widths[0]).toBe(LAYOUT.width - LAYOUT.margin - labelWidth - LAYOUT.valueRoom - LAYOUT.margin);
    expect(svg).toContain('8,005 req/s');
  });

  it('writes n/a for a value that was not measured, and "no data" for a figure without rows', () => {
    expect(barChartSvg({ title: 't', series: ['v'], rows: [{ label: 'a', values: [undefined] }] })).toContain(
      '>n/a<',
    );
    expect(barChartSvg({ title: 't', series: ['v'], rows: [] })).toContain('no data');
  });

  it('draws one bar per series in a row, with a legend', () => {
    const svg = barChartSvg({
      title: 't',
      series: ['write p50', 'read p50'],
      unit: 'ms',
      rows: [
        { label: 'ours', values: [2, 0.04] },
        { label: 'no cache', values: [1.5, 0.8] },
      ],
    });
    expect(barWidths(svg)).toHaveLength(4);
    expect(svg).toContain('write p50');
    expect(svg).toContain('0.040 ms');
  });

  it('is one well-formed SVG document with its size', () => {
    const svg = barChartSvg({ title: 't', series: ['v'], rows: [{ label: 'a', values: [1] }] });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/width="820" height="\d+" viewBox="0 0 820 \d+"/);
  });
});

describe('formatValue', () => {
  it('keeps three significant digits below 100 and thousands separators above', () => {
    expect(formatValue(0)).toBe('0');
    expect(formatValue(0.0412)).toBe('0.041');
    expect(formatValue(2.345)).toBe('2.35');
    expect(formatValue(12.34)).toBe('12.3');
    expect(formatValue(123_456.7)).toBe('123,457');
    expect(formatValue(Number.NaN)).toBe('n/a');
  });
});
