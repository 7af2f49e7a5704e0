// The live connection: GET /api/v1/events through EventSource. On every
// (re)connection the full list is loaded again, so the dashboard is right
// after a scheduler restart or a network break, including about instances
// deleted meanwhile. No polling: between connections nothing is asked.

import { API, listInstances } from './api.js';

const MAX_BACKOFF_MS = 15000;

// connect keeps store fed from the event stream until stop() is called.
// onStatus receives 'connecting', 'live' or 'offline' and, for offline,
// the seconds until the next try.
export function connect(store, onStatus) {
  let es = null;
  let retryTimer = 0;
  let backoff = 1000;
  let stopped = false;

  const resync = async () => {
    const since = performance.now();
    try {
      store.replaceAll(await listInstances(), since);
    } catch {
      // The stream's replay still brings every instance; the next
      // reconnection tries the full list again.
    }
  };

  const open = () => {
    if (stopped) return;
    onStatus('connecting');
    es = new EventSource(`${API}/events`);
    es.addEventListener('open', () => {
      backoff = 1000;
      onStatus('live');
      resync();
    });
    const onEvent = (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch {
        return;
      }
      store.apply(ev);
    };
    // The scheduler names each event by its kind ("event: instance"), which
    // EventSource delivers to listeners of that name, not to "message";
    // listen to both so either framing works.
    for (const kind of ['message', 'instance', 'deleted', 'failover']) es.addEventListener(kind, onEvent);
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CONNECTING) {
        // The browser retries by itself (the scheduler went away).
        onStatus('connecting');
        return;
      }
      // CLOSED: the browser gave up (e.g. the scheduler answered 503 while
      // starting). Try again ourselves, backing off.
      es.close();
      const wait = backoff;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      onStatus('offline', Math.round(wait / 1000));
      retryTimer = setTimeout(open, wait);
    });
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    if (es) es.close();
  };
}
