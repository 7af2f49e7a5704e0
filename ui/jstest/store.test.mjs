// Unit tests of the dashboard's pure modules, run by `node --test` from
// ui_test.go (TestJavaScriptUnits).
import assert from 'node:assert/strict';
import test from 'node:test';

import { niceMax, points } from '../static/js/chart.js';
import { ago, bytes, clock, int } from '../static/js/format.js';
import { Store, masterOf } from '../static/js/store.js';

const view = (name, extra = {}) => ({
  name,
  memory_mb: 64,
  replicas: 1,
  state: 'RUNNING',
  master_task: `${name}-1`,
  members: [
    { task_id: `${name}-1`, role: 'master', ops_per_sec: 10, used_memory: 1000 },
    { task_id: `${name}-2`, role: 'replica', ops_per_sec: 3, used_memory: 900 },
  ],
  replicas_in_sync: 1,
  failover_history: [],
  ...extra,
});

test('events add, change and delete instances', () => {
  const s = new Store();
  const seen = [];
  s.subscribe((w) => seen.push(w.kind));
  s.apply({ kind: 'instance', name: 'a', instance: view('a'), at: '2026-11-23T18:00:00Z' });
  s.apply({ kind: 'instance', name: 'b', instance: view('b'), at: '2026-11-23T18:00:00Z' });
  s.apply({ kind: 'instance', name: 'a', instance: view('a', { state: 'DEGRADED' }), at: '2026-11-23T18:00:01Z' });
  assert.equal(s.instances.get('a').state, 'DEGRADED');
  assert.deepEqual(s.sorted().map((v) => v.name), ['a', 'b']);
  assert.equal(s.samples.get('a').length, 2);
  s.apply({ kind: 'deleted', name: 'b', at: '2026-11-23T18:00:02Z' });
  assert.deepEqual([...s.instances.keys()], ['a']);
  assert.equal(s.samples.has('b'), false);
  assert.deepEqual(seen, ['instance', 'instance', 'instance', 'deleted']);
});

test('a failover event is added to the history once', () => {
  const s = new Store();
  s.apply({ kind: 'instance', name: 'a', instance: view('a'), at: '2026-11-23T18:00:00Z' });
  const f = { at: '2026-11-23T18:00:05Z', cause: 'task TASK_FAILED', old_master: 'a-1', new_master: 'a-2' };
  s.apply({ kind: 'failover', name: 'a', failover: f, at: f.at });
  s.apply({ kind: 'failover', name: 'a', failover: f, at: f.at });
  assert.equal(s.instances.get('a').failover_history.length, 1);
});

test('a full reload drops instances deleted while disconnected but keeps newer events', () => {
  const s = new Store();
  s.apply({ kind: 'instance', name: 'gone', instance: view('gone'), at: '2026-11-23T18:00:00Z' });
  s.apply({ kind: 'instance', name: 'a', instance: view('a'), at: '2026-11-23T18:00:00Z' });
  const since = performance.now();
  // An event arriving after the list was requested is newer than the list.
  s.apply({ kind: 'instance', name: 'a', instance: view('a', { state: 'DEGRADED' }), at: '2026-11-23T18:00:03Z' });
  s.apply({ kind: 'instance', name: 'new', instance: view('new'), at: '2026-11-23T18:00:03Z' });
  s.replaceAll([view('a'), view('c')], since);
  assert.deepEqual(s.sorted().map((v) => v.name), ['a', 'c', 'new']);
  assert.equal(s.instances.get('a').state, 'DEGRADED');
  assert.equal(s.synced, true);
});

test('samples follow the master', () => {
  const s = new Store();
  s.put(view('a'), '2026-11-23T18:00:00Z');
  const v = view('a', { master_task: 'a-2' });
  s.put(v, '2026-11-23T18:00:01Z');
  assert.deepEqual(s.samples.get('a').map((x) => x.ops), [10, 3]);
  assert.equal(masterOf(v).task_id, 'a-2');
  assert.equal(masterOf({ members: [] }), undefined);
});

test('chart scales', () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(7), 10);
  assert.equal(niceMax(12), 20);
  assert.equal(niceMax(4100), 5000);
  const pts = points([{ t: 0, v: 0 }, { t: 50, v: 5 }, { t: 100, v: 20 }], (x) => x.v, 100, 100, 10, 100, 10);
  assert.deepEqual(pts[0], [0, 10]);
  assert.equal(pts[1][0], 50);
  assert.equal(pts[2][1], 0.5); // clipped at the top, below 5% headroom
});

test('formats', () => {
  assert.equal(bytes(512), '512 B');
  assert.equal(bytes(1536), '1.5 KB');
  assert.equal(bytes(5 * 1024 * 1024), '5.0 MB');
  assert.equal(int(1234567), '1,234,567');
  assert.equal(int(undefined), '–');
  assert.equal(ago('2026-11-23T18:00:00Z', Date.parse('2026-11-23T18:05:30Z')), '5m ago');
  assert.equal(ago('0001-01-01T00:00:00Z'), '–');
  assert.equal(clock('0001-01-01T00:00:00Z'), '–');
  const now = new Date(2026, 10, 23, 18, 50, 0);
  assert.match(clock(new Date(2026, 10, 23, 18, 49, 42).toISOString(), now), /^18:49:42$/);
  assert.match(clock(new Date(2026, 10, 22, 9, 5, 0).toISOString(), now), /Nov 22.*09:05/);
});
