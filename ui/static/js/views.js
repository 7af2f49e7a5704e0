// Rendering of the two pages, the instance list and one instance, from
// the store. Only the live parts are rebuilt; forms and dialogs are left
// alone so that typing is never interrupted by an update.

import { lineChart, sparkline } from './chart.js';
import { ago, bytes, clock, h, int, setAddr, setText } from './format.js';
import { WINDOW_MS, masterOf } from './store.js';

const $ = (id) => document.getElementById(id);

const STATE_CLASS = {
  RUNNING: 'ok', CREATING: 'info', DEGRADED: 'warn', DELETING: 'muted', DELETED: 'muted', FAILED: 'bad',
};

export function badge(state) {
  return h('span', { class: `badge ${STATE_CLASS[state] || 'muted'}` }, state || 'UNKNOWN');
}

export const instanceHref = (name) => `#/instances/${encodeURIComponent(name)}`;

function memoryCell(v) {
  const m = masterOf(v);
  const cap = (v.memory_mb || 0) * 1024 * 1024;
  const used = m ? m.used_memory || 0 : 0;
  const pct = cap > 0 ? Math.min(100, (used / cap) * 100) : 0;
  const fill = h('span');
  fill.style.width = `${pct.toFixed(1)}%`; // CSSOM, which the CSP allows
  const bar = h('span', { class: `meter${pct > 90 ? ' hot' : ''}`, 'aria-hidden': 'true' }, fill);
  return h('td', { 'data-label': 'Memory used' },
    h('span', {}, m ? `${bytes(used)} of ${int(v.memory_mb)} MB` : `– of ${int(v.memory_mb)} MB`), bar);
}

// renderList draws the instance list.
export function renderList(store) {
  const list = store.sorted();
  const body = $('list-body');
  $('list-loading').hidden = store.synced || list.length > 0;
  $('list-empty').hidden = !(store.synced && list.length === 0);
  $('list-table').hidden = list.length === 0;

  let running = 0;
  let attention = 0;
  let ops = 0;
  const rows = list.map((v) => {
    if (v.state === 'RUNNING') running += 1;
    if (v.state === 'DEGRADED' || v.state === 'FAILED') attention += 1;
    const m = masterOf(v);
    ops += m ? m.ops_per_sec || 0 : 0;
    const stateCell = h('td', { 'data-label': 'State' }, badge(v.state));
    if (v.reason) stateCell.append(h('span', { class: 'reason-inline' }, v.reason));
    const inSync = v.replicas_in_sync >= v.replicas;
    return h('tr', { 'data-name': v.name },
      h('th', { scope: 'row', 'data-label': 'Name' }, h('a', { href: instanceHref(v.name), class: 'name-link' }, v.name)),
      stateCell,
      memoryCell(v),
      h('td', { 'data-label': 'Replicas in sync', class: inSync ? '' : 'warn-text' }, `${v.replicas_in_sync ?? 0} of ${v.replicas}`),
      h('td', { 'data-label': 'Proxy port', class: 'mono' }, v.proxy_port ? `localhost:${v.proxy_port}` : '–'),
      h('td', { 'data-label': 'Ops/s', class: 'num' }, h('span', { class: 'ops-cell' },
        sparkline(store.samples.get(v.name) || [], 'ops', WINDOW_MS), h('span', { class: 'ops' }, m ? int(m.ops_per_sec) : '–'))));
  });
  body.replaceChildren(...rows);
  setText($('tile-count'), store.synced || list.length ? int(list.length) : '–');
  setText($('tile-running'), store.synced || list.length ? int(running) : '–');
  setText($('tile-attention'), store.synced || list.length ? int(attention) : '–');
  $('tile-attention').classList.toggle('warn-text', attention > 0);
  setText($('tile-ops'), store.synced || list.length ? int(ops) : '–');
}

function memberRow(m, now) {
  const isMaster = m.role === 'master';
  const lag = isMaster ? '–' : `${bytes(m.lag_bytes || 0)}${m.link_up ? '' : ' · link down'}`;
  const state = h('td', { 'data-label': 'State' }, m.state || '–');
  // Mesos keeps the reason of the last update (e.g. a reconciliation);
  // it only matters while the task is not running.
  if (m.reason && m.state !== 'TASK_RUNNING') state.append(h('span', { class: 'reason-inline' }, m.reason));
  return h('tr', { class: isMaster ? 'is-master' : '' },
    h('th', { scope: 'row', 'data-label': 'Task', class: 'mono nowrap' }, m.task_id),
    h('td', { 'data-label': 'Host:port', class: 'mono' }, m.host ? `${m.host}:${m.port}` : '–'),
    h('td', { 'data-label': 'Role' }, h('span', { class: `role ${m.role}` }, m.role || '–')),
    state,
    h('td', { 'data-label': 'Offset', class: 'num mono' }, int(m.repl_offset)),
    h('td', { 'data-label': 'Lag', class: `num${!isMaster && !m.link_up ? ' warn-text' : ''}` }, lag),
    h('td', { 'data-label': 'Memory', class: 'num' }, bytes(m.used_memory)),
    h('td', { 'data-label': 'Ops/s', class: 'num' }, int(m.ops_per_sec)),
    h('td', { 'data-label': 'Clients', class: 'num' }, int(m.connected_clients)),
    h('td', { 'data-label': 'Last seen' }, ago(m.last_seen, now)));
}

function historyRow(f) {
  const from = f.old_addr ? `${f.old_master} (${f.old_addr})` : f.old_master;
  const to = f.new_addr ? `${f.new_master} (${f.new_addr})` : f.new_master;
  const cause = h('td', { 'data-label': 'Cause' }, f.cause || '–');
  if (f.error) cause.append(h('span', { class: 'reason-inline bad-text' }, f.error));
  return h('tr', {},
    h('td', { 'data-label': 'When' }, h('time', { datetime: f.at }, clock(f.at))),
    cause,
    h('td', { 'data-label': 'From → to', class: 'mono wrap' }, `${from || '–'} → ${to || '–'}`),
    h('td', { 'data-label': 'Took', class: 'num', title: `detected in ${f.detect_ms} ms` }, `${int(f.detect_ms + f.total_ms)} ms`),
    h('td', { 'data-label': 'Lost', class: 'num' }, bytes(f.lost_bytes || 0)));
}

// renderInstance draws one instance's page; it returns false if the
// instance is unknown.
export function renderInstance(store, name) {
  const v = store.instances.get(name);
  setText($('crumb-name'), name);
  setText($('inst-title'), name);
  setText($('missing-name'), name);
  const known = Boolean(v);
  $('inst-body').hidden = !known;
  $('inst-missing').hidden = known || !store.synced;
  $('inst-loading').hidden = known || store.synced;
  $('btn-switchover').disabled = !known || v.state === 'DELETING' || v.replicas === 0;
  $('btn-delete').disabled = !known || v.state === 'DELETING';
  const badgeEl = $('inst-state');
  badgeEl.hidden = !known;
  if (!known) {
    $('inst-reason').hidden = true;
    return false;
  }
  badgeEl.className = `badge ${STATE_CLASS[v.state] || 'muted'}`;
  setText(badgeEl, v.state);
  $('inst-reason').hidden = !v.reason;
  setText($('inst-reason'), v.reason || '');

  const now = Date.now();
  const m = masterOf(v);
  const cap = (v.memory_mb || 0) * 1024 * 1024;
  const used = m ? m.used_memory || 0 : 0;
  setAddr($('t-proxy'), v.proxy_port ? `localhost:${v.proxy_port}` : '–');
  setAddr($('t-master'), v.master || 'none');
  setText($('t-memory'), bytes(used));
  setText($('t-memory-of'), `of ${int(v.memory_mb)} MB${cap > 0 ? ` · ${Math.round((used / cap) * 100)}%` : ''}`);
  $('t-memory-bar').style.width = `${cap > 0 ? Math.min(100, (used / cap) * 100).toFixed(1) : 0}%`;
  setText($('t-replicas'), `${v.replicas_in_sync ?? 0} of ${v.replicas}`);
  $('t-replicas').classList.toggle('warn-text', (v.replicas_in_sync ?? 0) < v.replicas);
  setText($('t-ops'), m ? int(m.ops_per_sec) : '–');
  setText($('t-failovers'), int(v.failovers || 0));

  const members = [...(v.members || [])].sort((a, b) => {
    if ((a.role === 'master') !== (b.role === 'master')) return a.role === 'master' ? -1 : 1;
    return a.task_id.localeCompare(b.task_id);
  });
  $('members-body').replaceChildren(...members.map((mm) => memberRow(mm, now)));
  const running = members.filter((mm) => mm.state === 'TASK_RUNNING').length;
  setText($('members-summary'), `${running} of ${v.replicas + 1} running`);

  const hist = [...(v.failover_history || [])].reverse();
  $('history-body').replaceChildren(...hist.map(historyRow));
  $('history-empty').hidden = hist.length > 0;

  const facts = [
    ['Persistence', v.persistence || 'none'],
    // The field is omitted from the JSON when false.
    ['Reads', v.read_from_replicas ? 'replicas too (eventually consistent)' : 'master only'],
    ['Password', v.password ? 'required' : 'none'],
    ['Created', v.created ? clock(v.created) : '–'],
    ['Updated', v.updated ? ago(v.updated, now) : '–'],
  ];
  $('inst-facts').replaceChildren(...facts.flatMap(([k, val]) => [h('dt', {}, k), h('dd', {}, val)]));

  renderCharts(store, name, now);
  return true;
}

export function renderCharts(store, name, now = Date.now()) {
  const samples = store.samples.get(name) || [];
  // Span what has been seen, from one minute up to the full window, so a
  // fresh page shows a readable line at once.
  const first = samples.length ? samples[0].t : now;
  const windowMs = Math.min(WINDOW_MS, Math.max(60000, Math.ceil((now - first) / 60000) * 60000));
  const minutes = Math.round(windowMs / 60000);
  const ops = lineChart($('chart-ops'), samples, { key: 'ops', format: int, windowMs, now });
  const mem = lineChart($('chart-mem'), samples, { key: 'mem', format: bytes, windowMs, now });
  setText($('chart-ops-now'), ops.last === undefined ? '' : `now ${int(ops.last)}`);
  setText($('chart-mem-now'), mem.last === undefined ? '' : `now ${bytes(mem.last)}`);
  const span = minutes === 1 ? 'Last minute' : `Last ${minutes} minutes`;
  setText($('chart-ops-desc'), `${span}; peak ${int(ops.peak)} operations per second, now ${int(ops.last ?? 0)}.`);
  setText($('chart-mem-desc'), `${span}; peak ${bytes(mem.peak)}, now ${bytes(mem.last ?? 0)}.`);
}
