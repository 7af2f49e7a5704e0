// The dashboard's entry point: routing between the list and an instance
// page, the create, scale, resize, switchover and delete actions, and the
// live connection that keeps everything current.

import * as api from './api.js';
import { h, int } from './format.js';
import { connect } from './live.js';
import { Store } from './store.js';
import { instanceHref, renderCharts, renderInstance, renderList } from './views.js';

const $ = (id) => document.getElementById(id);
const store = new Store();
let route = {};

// ---- rendering ----------------------------------------------------------

let frame = 0;
function scheduleRender() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

function render() {
  if (route.page === 'instance') {
    if (renderInstance(store, route.name)) fillChangeForms(store.instances.get(route.name));
  } else {
    renderList(store);
  }
}

function parseRoute() {
  const m = location.hash.match(/^#\/instances\/([^/?#]+)$/);
  if (m) {
    try {
      return { page: 'instance', name: decodeURIComponent(m[1]) };
    } catch {
      return { page: 'list' };
    }
  }
  return { page: 'list' };
}

function onRoute() {
  const prev = route;
  route = parseRoute();
  $('view-list').hidden = route.page !== 'list';
  $('view-instance').hidden = route.page !== 'instance';
  document.title = route.page === 'instance' ? `${route.name} · mrredis` : 'Instances · mrredis';
  if (route.page !== prev.page || route.name !== prev.name) {
    for (const id of ['scale-replicas', 'resize-memory']) delete $(id).dataset.dirty;
    $('change-error').textContent = '';
    if (prev.page !== undefined && document.activeElement !== $('main')) $('main').focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
  render();
}

// fillChangeForms shows the instance's current values in the scale and
// resize fields, unless the user is editing them.
function fillChangeForms(v) {
  const fields = [['scale-replicas', v.replicas], ['resize-memory', v.memory_mb]];
  for (const [id, value] of fields) {
    const input = $(id);
    if (input.dataset.dirty || document.activeElement === input) continue;
    input.value = String(value);
  }
}

// ---- notifications -------------------------------------------------------

function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind}` }, message);
  $('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 10000 : 6000);
}

function setConnection(state, retryIn) {
  const conn = $('conn');
  conn.dataset.state = state;
  const text = {
    live: 'Live',
    connecting: 'Connecting…',
    offline: `Offline, retrying in ${retryIn}s`,
  }[state];
  $('conn-text').textContent = text;
  $('main').classList.toggle('stale', state !== 'live');
}

// ---- input helpers -------------------------------------------------------

// wholeNumber reads a number input; it returns undefined for an empty field
// and throws a sentence for anything that is not a whole number.
function wholeNumber(input, what) {
  const s = input.value.trim();
  if (s === '' && input.validity.badInput) throw new Error(`${what} must be a whole number.`);
  if (s === '') return undefined;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`${what} must be a whole number.`);
  return n;
}

// sentence makes an API message ("name \"X\" is invalid: ...") read as a
// sentence on screen.
function sentence(msg) {
  const s = String(msg).trim();
  if (s === '') return s;
  // Field names such as memory_mb stay as the API spells them.
  const t = /^\S*_/.test(s) ? s : s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

function showError(el, err) {
  el.textContent = sentence(err instanceof Error ? err.message : String(err));
}

async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// ---- create ----------------------------------------------------------------

const FIELD_FOR_ERROR = [
  [/^name\b/i, 'c-name'],
  [/memory/i, 'c-memory'],
  // Before /replica/: this field's name contains "replicas" too.
  [/read_from_replicas/i, 'c-read-replicas'],
  [/replica/i, 'c-replicas'],
  [/persistence/i, 'c-persistence'],
  [/password/i, 'c-password'],
];

function openCreate() {
  const form = $('create-form');
  $('create-error').textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  $('create-dialog').showModal();
  $('c-name').focus();
}

async function submitCreate(ev) {
  ev.preventDefault();
  const errEl = $('create-error');
  errEl.textContent = '';
  const form = $('create-form');
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  let spec;
  try {
    spec = {
      name: $('c-name').value.trim(),
      memory_mb: wholeNumber($('c-memory'), 'Memory') ?? 0,
      replicas: wholeNumber($('c-replicas'), 'Replicas') ?? 0,
      persistence: $('c-persistence').value,
      read_from_replicas: $('c-read-replicas').checked,
    };
    if ($('c-password').value !== '') spec.password = $('c-password').value;
  } catch (err) {
    showError(errEl, err);
    return;
  }
  try {
    const view = await busy($('create-submit'), () => api.createInstance(spec));
    if (view && view.name) store.put(view, view.updated);
    $('create-dialog').close();
    form.reset();
    toast(`Creating ${spec.name}: ${spec.memory_mb} MB, 1 master + ${spec.replicas} replicas${view && view.proxy_port ? `, proxy port ${view.proxy_port}` : ''}.`, 'ok');
    location.hash = instanceHref(spec.name);
    scheduleRender();
  } catch (err) {
    showError(errEl, err);
    const field = FIELD_FOR_ERROR.find(([re]) => re.test(err.message));
    if (field && err.status === 400) {
      $(field[1]).setAttribute('aria-invalid', 'true');
      $(field[1]).setAttribute('aria-errormessage', 'create-error');
      $(field[1]).focus();
    }
  }
}

// ---- confirmation dialog ---------------------------------------------------

let pending = null; // the action of the open confirmation dialog

// confirmAction asks before running action. With typeToConfirm the user
// must type that text first. The dialog stays open while action runs and
// shows its error if it fails.
function confirmAction({ title, text, okLabel, danger, typeToConfirm, action }) {
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-error').textContent = '';
  const ok = $('confirm-ok');
  ok.textContent = okLabel;
  ok.className = `btn ${danger ? 'danger solid' : 'primary'}`;
  const typed = $('confirm-typed');
  const input = $('confirm-input');
  typed.hidden = !typeToConfirm;
  input.value = '';
  if (typeToConfirm) {
    $('confirm-label').replaceChildren('Type ', h('strong', { class: 'mono' }, typeToConfirm), ' to confirm');
    ok.disabled = true;
  } else {
    ok.disabled = false;
  }
  pending = { action, typeToConfirm };
  $('confirm-dialog').showModal();
  (typeToConfirm ? input : $('confirm-cancel')).focus();
}

async function submitConfirm(ev) {
  ev.preventDefault();
  if (!pending) return;
  const { action, typeToConfirm } = pending;
  if (typeToConfirm && $('confirm-input').value.trim() !== typeToConfirm) return;
  try {
    await busy($('confirm-ok'), action);
    pending = null;
    $('confirm-dialog').close();
  } catch (err) {
    showError($('confirm-error'), err);
  }
}

// ---- instance actions ------------------------------------------------------

function askDelete() {
  const name = route.name;
  const v = store.instances.get(name);
  if (!v) return;
  confirmAction({
    title: `Delete ${name}?`,
    text: `This stops all ${(v.members || []).length} members of ${name} and deletes their data. `
      + `Applications using localhost:${v.proxy_port} lose this Redis. It cannot be undone.`,
    okLabel: 'Delete instance',
    danger: true,
    typeToConfirm: name,
    action: async () => {
      await api.deleteInstance(name);
      toast(`Deleting ${name}.`, 'ok');
      location.hash = '#/';
    },
  });
}

function askSwitchover() {
  const name = route.name;
  const v = store.instances.get(name);
  if (!v) return;
  confirmAction({
    title: `Switch over ${name}?`,
    text: `The replica with the highest replication offset becomes master (now ${v.master || 'none'}). `
      + 'Commands in flight during the switch may fail; clients keep using the same proxy port.',
    okLabel: 'Switch over',
    action: async () => {
      await api.failover(name);
      toast(`Switchover of ${name} requested.`, 'ok');
    },
  });
}

async function submitChange(ev, field, input, what, describe) {
  ev.preventDefault();
  const errEl = $('change-error');
  errEl.textContent = '';
  const name = route.name;
  let n;
  try {
    n = wholeNumber(input, what);
    if (n === undefined) throw new Error(`${what} is required.`);
  } catch (err) {
    showError(errEl, err);
    input.focus();
    return;
  }
  try {
    const view = await busy(ev.submitter || input, () => api.patchInstance(name, { [field]: n }));
    if (view && view.name) store.put(view, view.updated);
    delete input.dataset.dirty;
    toast(describe(name, n), 'ok');
    scheduleRender();
  } catch (err) {
    showError(errEl, err);
    input.focus();
  }
}

// ---- wiring ------------------------------------------------------------------

function init() {
  $('new-btn').addEventListener('click', openCreate);
  $('empty-new-btn').addEventListener('click', openCreate);
  $('create-form').addEventListener('submit', submitCreate);
  $('create-cancel').addEventListener('click', () => $('create-dialog').close());

  $('confirm-form').addEventListener('submit', submitConfirm);
  $('confirm-cancel').addEventListener('click', () => {
    pending = null;
    $('confirm-dialog').close();
  });
  $('confirm-dialog').addEventListener('close', () => {
    pending = null;
  });
  $('confirm-input').addEventListener('input', () => {
    $('confirm-ok').disabled = !pending || $('confirm-input').value.trim() !== pending.typeToConfirm;
  });

  $('btn-delete').addEventListener('click', askDelete);
  $('btn-switchover').addEventListener('click', askSwitchover);
  for (const id of ['scale-replicas', 'resize-memory']) {
    $(id).addEventListener('input', () => {
      $(id).dataset.dirty = '1';
    });
  }
  $('scale-form').addEventListener('submit', (ev) => submitChange(ev, 'replicas', $('scale-replicas'), 'Replicas',
    (name, n) => `Scaling ${name} to ${int(n)} replicas.`));
  $('resize-form').addEventListener('submit', (ev) => submitChange(ev, 'memory_mb', $('resize-memory'), 'Memory',
    (name, n) => `Resizing ${name} to ${int(n)} MB per member.`));

  store.subscribe((what) => {
    if (what.kind === 'failover' && what.failover) {
      const f = what.failover;
      toast(`Failover of ${what.name}: ${f.old_master || '?'} → ${f.new_master || '?'} (${f.cause || 'unknown cause'}).`, 'warn');
    }
    if (what.kind === 'deleted' && route.page === 'instance' && route.name === what.name) {
      toast(`${what.name} is deleted.`);
    }
    scheduleRender();
  });

  window.addEventListener('hashchange', onRoute);
  onRoute();
  connect(store, setConnection);

  // Slide the charts and the "seen 3s ago" texts along; this redraws from
  // memory and asks the scheduler nothing.
  setInterval(() => {
    if (route.page === 'instance' && store.instances.has(route.name)) renderCharts(store, route.name);
    scheduleRender();
  }, 5000);
}

init();
