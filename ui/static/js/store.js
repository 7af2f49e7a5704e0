// The dashboard's state: the instances as last seen, and for each a short
// history of samples (ops/s, memory) built from the event stream, which is
// what the charts draw. Nothing here talks to the network.

// How long the charts look back.
export const WINDOW_MS = 5 * 60 * 1000;

// masterOf returns the instance's master member, if any.
export function masterOf(v) {
  const members = v.members || [];
  return members.find((m) => v.master_task && m.task_id === v.master_task)
    || members.find((m) => m.role === 'master');
}

export class Store {
  constructor() {
    this.instances = new Map(); // name -> InstanceView
    this.seenAt = new Map(); // name -> performance.now() of the last update
    this.samples = new Map(); // name -> [{t, ops, mem}]
    this.synced = false; // a full state has been loaded at least once
    this.listeners = new Set();
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(what) {
    for (const fn of this.listeners) fn(what);
  }

  // put records a new view of an instance; at is when it was observed.
  put(view, at) {
    if (!view || !view.name) return;
    this.instances.set(view.name, view);
    this.seenAt.set(view.name, performance.now());
    this.sample(view, at);
  }

  sample(view, at) {
    const t = Number.isFinite(Date.parse(at)) ? Date.parse(at) : Date.now();
    const m = masterOf(view);
    const s = { t, ops: m ? m.ops_per_sec || 0 : 0, mem: m ? m.used_memory || 0 : 0 };
    let list = this.samples.get(view.name);
    if (!list) {
      list = [];
      this.samples.set(view.name, list);
    }
    const last = list[list.length - 1];
    if (last && t <= last.t) {
      // Same moment (or an out-of-order replay): the newer view wins.
      if (t === last.t) list[list.length - 1] = s;
    } else {
      list.push(s);
    }
    const cutoff = Date.now() - WINDOW_MS - 60 * 1000;
    while (list.length > 2 && list[0].t < cutoff) list.shift();
  }

  remove(name) {
    this.instances.delete(name);
    this.seenAt.delete(name);
    this.samples.delete(name);
  }

  // apply handles one event of GET /api/v1/events.
  apply(ev) {
    switch (ev.kind) {
      case 'instance':
        this.put(ev.instance, ev.at);
        this.changed({ kind: 'instance', name: ev.name });
        break;
      case 'deleted':
        this.remove(ev.name);
        this.changed({ kind: 'deleted', name: ev.name });
        break;
      case 'failover': {
        const v = this.instances.get(ev.name);
        if (v && ev.failover) {
          const hist = v.failover_history || [];
          const dup = hist.some((f) => f.at === ev.failover.at && f.new_master === ev.failover.new_master);
          if (!dup) {
            this.instances.set(ev.name, { ...v, failover_history: [...hist, ev.failover] });
          }
        }
        this.changed({ kind: 'failover', name: ev.name, failover: ev.failover });
        break;
      }
      default:
        break;
    }
  }

  // replaceAll installs a full list from GET /instances, requested at
  // since (performance.now()). Instances updated by events after since
  // keep those newer views; the others are replaced or, if absent from the
  // list, dropped (they were deleted while we were not listening).
  replaceAll(list, since) {
    const names = new Set();
    for (const v of list || []) {
      names.add(v.name);
      if ((this.seenAt.get(v.name) || -1) > since) continue;
      this.put(v);
    }
    for (const name of [...this.instances.keys()]) {
      if (!names.has(name) && (this.seenAt.get(name) || -1) <= since) this.remove(name);
    }
    this.synced = true;
    this.changed({ kind: 'all' });
  }

  sorted() {
    return [...this.instances.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
