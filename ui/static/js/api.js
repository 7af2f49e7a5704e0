// The REST API of mrr-sched, as used by the dashboard.

// Relative to the page, so that the dashboard also works under a path
// prefix, as behind DC/OS Admin Router at /service/<name>/.
export const API = 'api/v1';

// ApiError carries the HTTP status and the API's one-sentence error.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

// request sends one JSON request and returns the decoded answer (or null
// for an empty one). Failures become an ApiError with a sentence a person
// can act on; status 0 means the scheduler did not answer.
export async function request(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(API + path, init);
  } catch (err) {
    throw new ApiError(0, 'Cannot reach the scheduler. Check that mrr-sched is running, then try again.');
  }
  const text = await resp.text();
  let data = null;
  if (text.trim() !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const msg = data && typeof data.error === 'string' && data.error
      ? data.error
      : `The scheduler answered ${resp.status} ${resp.statusText}.`;
    throw new ApiError(resp.status, msg);
  }
  return data;
}

const path = (name) => `/instances/${encodeURIComponent(name)}`;

export const listInstances = () => request('GET', '/instances');
export const getInstance = (name) => request('GET', path(name));
export const createInstance = (spec) => request('POST', '/instances', spec);
export const patchInstance = (name, patch) => request('PATCH', path(name), patch);
export const deleteInstance = (name) => request('DELETE', path(name));
export const failover = (name) => request('POST', `${path(name)}/failover`);
