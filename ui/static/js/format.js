// Formatting of numbers, sizes and times for the dashboard, and a tiny
// DOM builder that never interprets strings as HTML.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function int(n) {
  return Number.isFinite(n) ? intFmt.format(n) : '–';
}

// bytes writes b in B, KB, MB or GB (powers of 1024, as Redis counts).
export function bytes(b) {
  if (!Number.isFinite(b)) return '–';
  const k = 1024;
  if (b < k) return `${b} B`;
  if (b < k * k) return `${(b / k).toFixed(1)} KB`;
  if (b < k * k * k) return `${(b / (k * k)).toFixed(1)} MB`;
  return `${(b / (k * k * k)).toFixed(2)} GB`;
}

// ago is a short relative time such as "3s ago" or "5m ago".
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return '–';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 172800) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// clock is a time of day for today ("18:49:42") and a date and time for
// earlier days ("Nov 22, 18:49").
export function clock(iso, now = new Date()) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime()) || t.getFullYear() < 2000) return '–';
  const time = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  if (t.toDateString() === now.toDateString()) {
    return t.toLocaleTimeString(undefined, { ...time, second: '2-digit' });
  }
  return t.toLocaleString(undefined, { month: 'short', day: 'numeric', ...time });
}

// addr shows "host:port" in el, allowing a line break before the port.
export function setAddr(el, addr) {
  const s = String(addr);
  if (el.textContent === s) return;
  const i = s.lastIndexOf(':');
  if (i <= 0) {
    el.textContent = s;
    return;
  }
  el.replaceChildren(s.slice(0, i), document.createElement('wbr'), s.slice(i));
}

// h builds an element: h('td', {class: 'num'}, 'text', otherNode).
// Attributes named on* are not supported on purpose: wire events in code.
export function h(tag, attrs, ...children) {
  const el = tag.includes(':')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// setText changes an element's text only when it differs, so that screen
// readers and selection are not disturbed by identical updates.
export function setText(el, text) {
  const s = String(text);
  if (el && el.textContent !== s) el.textContent = s;
}
