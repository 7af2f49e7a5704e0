// Small SVG line charts drawn from the samples the store keeps.

import { h } from './format.js';

const W = 600;
const H = 160;
// Headroom above the highest value, as a share of the height.
const HEADROOM = 0.05;

// niceMax rounds v up to 1, 2 or 5 times a power of ten, for axis labels.
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) {
    if (v <= m * p) return m * p;
  }
  return 10 * p;
}

// points maps samples to SVG coordinates over [now-windowMs, now] and
// [0, max]; samples before the window are clipped at its left edge.
export function points(samples, value, now, windowMs, max, width = W, height = H) {
  const x0 = now - windowMs;
  const top = height * HEADROOM;
  const out = [];
  for (const s of samples) {
    const x = ((Math.max(s.t, x0) - x0) / windowMs) * width;
    const y = height - (Math.min(value(s), max) / max) * (height - top);
    out.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
  }
  return out;
}

// lineChart replaces the content of container with a chart of
// samples[i][key] over the last windowMs, labelled with format.
export function lineChart(container, samples, { key, format, windowMs, now = Date.now() }) {
  const visible = samples.filter((s) => s.t >= now - windowMs - 60000);
  const peak = visible.reduce((m, s) => Math.max(m, s[key]), 0);
  const max = niceMax(peak);
  const pts = points(visible, (s) => s[key], now, windowMs, max);
  // Carry the last value to "now" so the line reaches the right edge.
  if (pts.length > 0) pts.push([W, pts[pts.length - 1][1]]);

  const svg = h('svg:svg', {
    viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'chart-svg', 'aria-hidden': 'true', focusable: 'false',
  });
  for (const f of [0.25, 0.5, 0.75, 1]) {
    const y = H - f * (H - H * HEADROOM);
    svg.append(h('svg:line', { x1: 0, x2: W, y1: y, y2: y, class: 'grid-line' }));
  }
  if (pts.length > 1) {
    const line = pts.map(([x, y]) => `${x},${y}`).join(' ');
    svg.append(h('svg:polygon', { points: `${pts[0][0]},${H} ${line} ${W},${H}`, class: 'area' }));
    svg.append(h('svg:polyline', { points: line, class: 'line' }));
  }
  const minutes = Math.round(windowMs / 60000);
  const frame = h('div', { class: 'chart-frame' },
    svg,
    h('span', { class: 'axis y-max' }, format(max)),
    h('span', { class: 'axis y-min' }, format(0)),
    h('span', { class: 'axis x-start' }, minutes === 1 ? '1 minute ago' : `${minutes} minutes ago`),
    h('span', { class: 'axis x-end' }, 'now'));
  if (visible.length < 2) {
    frame.append(h('span', { class: 'chart-wait' }, 'Collecting samples from the live stream…'));
  }
  container.replaceChildren(frame);
  return { peak, last: visible.length ? visible[visible.length - 1][key] : undefined };
}

// sparkline is a tiny inline chart for table rows.
// Until it has windowMs of history it spans what it has (at least 30 s),
// so that a new instance's line is not a dot at the right edge.
export function sparkline(samples, key, windowMs, now = Date.now()) {
  const first = samples.length ? samples[0].t : now;
  windowMs = Math.min(windowMs, Math.max(30000, now - first));
  const visible = samples.filter((s) => s.t >= now - windowMs);
  const max = niceMax(visible.reduce((m, s) => Math.max(m, s[key]), 0));
  const pts = points(visible, (s) => s[key], now, windowMs, max, 80, 20);
  const svg = h('svg:svg', { viewBox: '0 0 80 20', class: 'spark', 'aria-hidden': 'true', focusable: 'false' });
  if (pts.length > 1) {
    svg.append(h('svg:polyline', { points: pts.map(([x, y]) => `${x},${y}`).join(' ') }));
  }
  return svg;
}
