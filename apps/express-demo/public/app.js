// The live stats page: polls GET /api/stats and draws its timeline as SVG line charts. No build step,
// no library: each chart is a few <path> elements redrawn from the points the server keeps.

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const H = 170;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };

const CHARTS = {
  'chart-hits': {
    percent: true,
    series: [
      { name: 'L1', color: '#2e90fa', value: (p) => p.l1Ratio },
      { name: 'L2', color: '#7a5af8', value: (p) => p.l2Ratio },
      { name: 'all tiers', color: '#12b76a', value: (p) => p.hitRatio },
    ],
  },
  'chart-rate': {
    series: [
      { name: 'reads/s', color: '#2e90fa', value: (p) => perSecond(p.reads, p) },
      { name: 'writes/s', color: '#f79009', value: (p) => perSecond(p.writes, p) },
      { name: 'database reads/s', color: '#98a2b3', value: (p) => perSecond(p.dbReads, p) },
    ],
  },
  'chart-read': {
    series: [
      { name: 'p50', color: '#2e90fa', value: (p) => p.readP50 },
      { name: 'p99', color: '#f04438', value: (p) => p.readP99 },
    ],
  },
  'chart-write': {
    series: [
      { name: 'p50', color: '#f79009', value: (p) => p.writeP50 },
      { name: 'p99', color: '#f04438', value: (p) => p.writeP99 },
    ],
  },
  'chart-events': {
    series: [
      { name: 'writes', color: '#f79009', value: (p) => p.writes },
      { name: 'conflicts', color: '#c01048', value: (p) => p.conflicts },
      { name: 'retries', color: '#7a5af8', value: (p) => p.retries },
      { name: 'errors', color: '#d92d20', value: (p) => p.errors },
    ],
  },
};

function perSecond(n, p) {
  return p.ms > 0 ? (n * 1000) / p.ms : 0;
}

/** A round upper bound for the y axis: 1, 2 or 5 times a power of ten. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * exp) return m * exp;
  return 10 * exp;
}

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function format(v, percent) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (v === 0) return '0';
  if (percent) return `${(v * 100).toFixed(1)}%`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(v >= 1 ? 2 : 3);
}

/** Redraws one chart from the points (oldest first), over a window of `capacity` intervals. */
function draw(id, points, capacity, sampleMs, now) {
  const chart = CHARTS[id];
  const svg = $(id);
  const W = svg.viewBox.baseVal.width || 600;
  const values = chart.series.map((s) => points.map((p) => s.value(p)));
  const finite = values.flat().filter((v) => v !== null && Number.isFinite(v));
  const max = chart.percent ? 1 : niceMax(Math.max(0, ...finite));
  const span = capacity * sampleMs;
  const x = (t) => PAD.left + ((W - PAD.left - PAD.right) * (span - (now - t))) / span;
  const y = (v) => H - PAD.bottom - ((H - PAD.top - PAD.bottom) * Math.min(v, max)) / max;

  svg.replaceChildren();
  for (const f of [0, 0.5, 1]) {
    const v = max * f;
    svg.append(el('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }));
    svg.append(el('text', { x: PAD.left - 4, y: y(v) + 3, 'text-anchor': 'end' }, format(v, chart.percent)));
  }
  const seconds = Math.round(span / 1000);
  svg.append(el('text', { x: PAD.left, y: H - 5 }, `−${seconds} s`));
  svg.append(el('text', { x: W - PAD.right, y: H - 5, 'text-anchor': 'end' }, 'now'));

  chart.series.forEach((s, i) => {
    let d = '';
    let pen = false;
    points.forEach((p, j) => {
      const v = values[i][j];
      if (v === null || !Number.isFinite(v) || now - p.t > span) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    svg.append(el('path', { class: 'series', d: d || 'M0,0', stroke: s.color, 'data-series': s.name }));
  });
  svg.dataset.points = String(points.length);

  const legend = document.querySelector(`.legend[data-for="${id}"]`);
  legend.replaceChildren(
    ...chart.series.map((s, i) => {
      const span = document.createElement('span');
      const swatch = document.createElement('i');
      swatch.style.background = s.color;
      const last = [...values[i]].reverse().find((v) => v !== null && Number.isFinite(v));
      span.append(swatch, `${s.name} ${format(last, chart.percent)}`);
      return span;
    }),
  );
}

let lastSeq = 0;
let capacity = 60;

function tiles(body) {
  const sum = (f) => body.caches.reduce((n, c) => n + f(c), 0);
  const reads = sum((c) => c.reads);
  const hits = sum((c) => c.hits);
  $('t-reads').textContent = reads.toLocaleString();
  $('t-hit').textContent = reads ? `${((hits / reads) * 100).toFixed(1)}%` : '–';
  $('t-writes').textContent = sum((c) => c.writes).toLocaleString();
  $('t-conflicts').textContent = sum((c) => c.conflicts).toLocaleString();
  $('t-retries').textContent = sum((c) => c.retries).toLocaleString();
  const errors = (body.http.byClass['5xx'] ?? 0) + sum((c) => c.l1.errors + c.l2.errors);
  $('t-errors').textContent = errors.toLocaleString();
  $('t-batches').textContent = `${sum((c) => c.batches)} (${sum((c) => c.batchedRows)})`;
  $('t-responses').textContent = `${body.responses.hits} / ${body.responses.misses}`;
}

function events(list) {
  const ol = $('events');
  for (const e of list) {
    lastSeq = Math.max(lastSeq, e.seq);
    if (e.kind === 'batch' && e.detail.startsWith('1 rows')) continue;
    const li = document.createElement('li');
    li.className = e.kind;
    li.textContent = `${new Date(e.t).toLocaleTimeString()} ${e.cache} ${e.kind}: ${e.detail}`;
    ol.prepend(li);
  }
  while (ol.children.length > 30) ol.lastElementChild.remove();
}

async function poll() {
  let delay = 1000;
  try {
    const res = await fetch(`/api/stats?since=${lastSeq}`, { cache: 'no-store' });
    const body = await res.json();
    delay = Math.max(250, body.sampleMs);
    capacity = body.windowPoints;
    const m = body.mode;
    $('mode').textContent = `database: ${m.database} · L1: ${m.l1} · L2: ${m.l2} · bus: ${m.bus}`;
    $('fault').hidden = body.faults === null;
    tiles(body);
    events(body.events);
    for (const id of Object.keys(CHARTS)) draw(id, body.points, capacity, body.sampleMs, body.now);
    $('dot').className = 'dot on';
    $('updated').textContent = `live · ${body.points.length} samples · every ${body.sampleMs / 1000} s`;
  } catch {
    $('dot').className = 'dot off';
    $('updated').textContent = 'the app does not answer';
  }
  setTimeout(poll, delay);
}

// ---- the "Try the API" panel -----------------------------------------------------------------

const firstEtag = new Map();

async function send(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = body;
  }
  const t = performance.now();
  const res = await fetch(path, init);
  const text = await res.text();
  const ms = performance.now() - t;
  const shown = ['etag', 'x-cache', 'retry-after', 'location'].filter((h) => res.headers.has(h));
  return { res, text, ms, shown };
}

function show({ res, text, ms, shown }, label) {
  const lines = [`${label} → ${res.status} ${res.statusText} (${ms.toFixed(1)} ms)`];
  for (const h of shown) lines.push(`${h}: ${res.headers.get(h)}`);
  if (text) {
    try {
      lines.push('', JSON.stringify(JSON.parse(text), null, 2));
    } catch {
      lines.push('', text);
    }
  }
  $('answer').textContent = lines.join('\n');
}

const BODIES = {
  users: '{"name": "Ada Lovelace", "email": "ada@example.com"}',
  products: '{"name": "Keyboard", "price": 49.9, "stock": 120}',
};
const IDS = { users: 'ada', products: 'keyboard' };
$('resource').addEventListener('change', () => {
  const r = $('resource').value;
  $('body').value = BODIES[r];
  $('id').value = IDS[r];
});

$('try').addEventListener('click', async (event) => {
  const action = event.target?.dataset?.action;
  if (!action) return;
  const resource = $('resource').value;
  const path = `/${resource}/${encodeURIComponent($('id').value.trim())}`;
  const remember = (a) => {
    const etag = a.res.headers.get('etag');
    if (etag && !firstEtag.has(path)) firstEtag.set(path, etag);
    return a;
  };
  try {
    if (action === 'get') show(remember(await send('GET', path)), `GET ${path}`);
    if (action === 'put') show(remember(await send('PUT', path, $('body').value)), `PUT ${path}`);
    if (action === 'put-stale') {
      const etag = firstEtag.get(path) ?? '"1"';
      show(await send('PUT', path, $('body').value, { 'if-match': etag }), `PUT ${path} If-Match ${etag}`);
    }
    if (action === 'delete') show(await send('DELETE', path), `DELETE ${path}`);
    if (action === 'burst') {
      let last;
      for (let i = 0; i < 50; i++) last = await send('GET', path);
      show(last, `GET ${path} ×50 (the last answer)`);
    }
    if (action === 'report') show(await send('GET', '/reports/summary'), 'GET /reports/summary');
    if (action === 'fault') {
      show(
        await send('POST', '/demo/faults', JSON.stringify({ resource, failNext: 2 })),
        `the next 2 database writes of ${resource} fail — now PUT`,
      );
    }
  } catch (error) {
    $('answer').textContent = `request failed: ${error}`;
  }
});

poll();
