// The wake console's script (one module for every page; the page says which it is in
// <body data-page>). The pages hold no data: everything shown comes from waked's /v1 API, read with
// the API key the operator typed, kept in this tab's sessionStorage. Data is only ever put into the
// page as text (textContent), never as markup.

const KEY_STORAGE = 'wake.console.apiKey';
const $ = (selector, root = document) => root.querySelector(selector);

// --- the key and the API ----------------------------------------------------------------------------

class AuthError extends Error {}

function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

async function api(path, { accept = 'application/json', signal } = {}) {
  const response = await fetch(path, { headers: { 'x-api-key': apiKey(), accept }, cache: 'no-store', signal });
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(response.status === 401 ? 'The API key was refused.' : 'The API key may not read this.');
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message || message; } catch { /* not an error envelope */ }
    throw new Error(message);
  }
  return accept === 'application/json' ? response.json() : response;
}

// Shows the login prompt (and hides every piece of data) with `message`; the page's `start` runs
// again once a key is accepted.
function showLogin(message, start) {
  sessionStorage.removeItem(KEY_STORAGE);
  for (const content of document.querySelectorAll('.content')) content.hidden = true;
  clearData();
  $('.logout').hidden = true;
  const login = $('.login');
  login.hidden = false;
  $('.login-error').textContent = message || '';
  const form = $('.login-form');
  const input = $('#api-key');
  input.value = '';
  input.focus();
  form.onsubmit = async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    try {
      await api('/v1/sessions?limit=1');  // checks the key before any page shows data
    } catch (error) {
      showLogin(error instanceof AuthError ? error.message : `The API did not answer: ${error.message}`, start);
      return;
    }
    login.hidden = true;
    start();
  };
}

function showContent() {
  $('.login').hidden = true;
  for (const content of document.querySelectorAll('.content')) content.hidden = false;
  const logout = $('.logout');
  logout.hidden = false;
  logout.onclick = () => { stopStreams(); showLogin('The key was forgotten.', PAGES[document.body.dataset.page]); };
}

// Removes every piece of session data the page shows (on logout or a refused key).
function clearData() {
  for (const body of document.querySelectorAll('tbody, #events')) body.replaceChildren();
  for (const dd of document.querySelectorAll('.facts dd')) dd.textContent = '—';
  const img = $('#timeline');
  if (img) img.removeAttribute('src');
  for (const line of document.querySelectorAll('#list-status, #stream-status')) line.textContent = '';
  if (document.body.dataset.page === 'session') {
    $('#page-title').textContent = 'Session';
    document.title = 'Session · wake console';
    $('#h-state').textContent = 'no hand yet (provisioned on the first tool call)';
    $('#tools-empty').hidden = false;
  }
}

// --- formatting --------------------------------------------------------------------------------------

function el(tag, { text, className, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { hour12: false });
}

// A <time>: the local date and time, or with `short` the time of day to the millisecond (the full
// date in its tooltip).
function timeElement(iso, { short = false } = {}) {
  if (!short || !iso) return el('time', { text: when(iso), attrs: iso ? { datetime: iso } : {} });
  const date = new Date(iso);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  const text = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  return el('time', { text, attrs: { datetime: iso, title: when(iso) } });
}

function statusBadge(status) {
  return el('span', { text: status, className: `status status-${status}` });
}

function sessionLink(id, text = id) {
  return el('a', { text, attrs: { href: `/console/sessions/${encodeURIComponent(id)}` } });
}

function agentLabel(agent) {
  if (!agent) return '—';
  return agent.name ? `${agent.name} (${agent.id} v${agent.version})` : `${agent.id} v${agent.version}`;
}

function contentText(content) {
  if (!Array.isArray(content)) return '';
  return content.map((block) => (block.type === 'text' ? block.text : `[${block.type}]`)).join('\n');
}

// Where a session was forked from, if it says: metadata `forked_from` (a session id, optionally
// with "#seq"), or the title `wakectl fork` gives an untitled session ("sesn_… (fork at #N)").
function forkParent(session) {
  const meta = session.metadata || {};
  const recorded = meta.forked_from || meta.fork_parent;
  if (recorded) {
    const [id, seq] = String(recorded).split('#');
    return { id, seq: seq || meta.forked_at_seq || '' };
  }
  const match = /^(sesn_[A-Za-z0-9]+) \(fork at #(\d+)\)$/.exec(session.title || '');
  return match ? { id: match[1], seq: match[2] } : null;
}

// --- the sessions list -------------------------------------------------------------------------------

const PAGE_SIZE = 25;  // unless the address says ?limit=N (1 to 100)

async function startSessionsPage() {
  const form = $('#filters');
  const params = new URLSearchParams(location.search);
  form.status.value = params.get('status') || '';
  form.agent.value = params.get('agent') || '';
  form.archived.checked = params.get('archived') === '1';
  let page = params.get('page') || '';
  const asked = Number.parseInt(params.get('limit') || '', 10);
  const limit = asked >= 1 && asked <= 100 ? asked : PAGE_SIZE;
  let cursors = { next: null, prev: null };

  const load = async () => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (form.status.value) query.append('statuses', form.status.value);
    if (form.agent.value.trim()) query.set('agent_id', form.agent.value.trim());
    if (form.archived.checked) query.set('include_archived', 'true');
    if (page) query.set('page', page);
    const status = $('#list-status');
    status.textContent = 'Loading…';
    let result;
    try {
      result = await api(`/v1/sessions?${query}`);
    } catch (error) {
      if (error instanceof AuthError) return showLogin(error.message, startSessionsPage);
      status.textContent = `Could not list sessions: ${error.message}`;
      status.className = 'error';
      return;
    }
    showContent();
    const rows = result.data.map((session) => {
      const name = el('td', {}, [sessionLink(session.id)]);
      if (session.title) name.append(el('br'), el('span', { text: session.title }));
      const parent = forkParent(session);
      if (parent) name.append(el('br'), el('span', { text: 'fork of ' }), sessionLink(parent.id));
      return el('tr', { attrs: { 'data-session': session.id } }, [
        name,
        el('td', {}, [statusBadge(session.status)]),
        el('td', { text: agentLabel(session.agent) }),
        el('td', { className: 'when' }, [timeElement(session.updated_at)]),
        el('td', { className: 'when' }, [timeElement(session.created_at)]),
      ]);
    });
    $('#sessions tbody').replaceChildren(...rows);
    cursors = { next: result.next_page, prev: result.prev_page };
    $('#older').disabled = !cursors.next;
    $('#newer').disabled = !cursors.prev;
    status.className = '';
    status.textContent = rows.length ? `${rows.length} session${rows.length === 1 ? '' : 's'} on this page` : 'No sessions match.';
  };

  const remember = () => {
    const shown = new URLSearchParams();
    if (form.status.value) shown.set('status', form.status.value);
    if (form.agent.value.trim()) shown.set('agent', form.agent.value.trim());
    if (form.archived.checked) shown.set('archived', '1');
    if (page) shown.set('page', page);
    if (limit !== PAGE_SIZE) shown.set('limit', String(limit));
    history.replaceState(null, '', `/console${shown.size ? `?${shown}` : ''}`);
  };
  form.onsubmit = (event) => { event.preventDefault(); page = ''; remember(); load(); };
  $('#refresh').onclick = () => load();
  $('#older').onclick = () => { page = cursors.next; remember(); load(); };
  $('#newer').onclick = () => { page = cursors.prev; remember(); load(); };
  await load();
}

// --- the session page --------------------------------------------------------------------------------

const INTERNAL_PREFIX = 'wake.';
let streamController = null;  // aborts the live stream (logout, pause)

function stopStreams() {
  if (streamController) streamController.abort();
  streamController = null;
}

function isErrorEvent(event) {
  return event.type === 'session.error' || event.type === 'wake.hand_lost' || event.is_error === true ||
      (event.type === 'session.status_idle' && event.stop_reason?.type === 'retries_exhausted');
}

function eventSummary(event) {
  switch (event.type) {
    case 'user.message':
    case 'agent.message':
      return contentText(event.content);
    case 'agent.tool_use':
    case 'agent.custom_tool_use':
      return `${event.name} ${JSON.stringify(event.input)}`;
    case 'agent.tool_result':
    case 'user.custom_tool_result':
      return contentText(event.content);
    case 'user.tool_confirmation':
      return `${event.result} ${event.tool_use_id}${event.deny_message ? `: ${event.deny_message}` : ''}`;
    case 'session.status_idle':
      return `stop reason: ${event.stop_reason?.type}`;
    case 'session.error':
      return `${event.error?.type}: ${event.error?.message} (${event.error?.retry_status?.type})`;
    case 'span.model_request_end': {
      const u = event.model_usage || {};
      return `${u.input_tokens} tokens in, ${u.output_tokens} out`;
    }
    case 'wake.tool_started':
      return `${event.name} (${event.tool_use_id})`;
    case 'wake.hand_provisioned':
      return `${event.backend} hand ${event.hand_id} in ${(event.duration_us / 1000).toFixed(1)} ms`;
    case 'wake.hand_lost':
      return `${event.backend} hand ${event.hand_id}: ${event.reason}`;
    case 'wake.hand_released':
      return `${event.backend} hand ${event.hand_id}`;
    case 'wake.harness_woke':
      return `worker ${event.worker_id}, lease epoch ${event.lease_epoch}`;
    case 'wake.rewound':
      return `to event #${event.to_seq}`;
    default:
      return '';
  }
}

const STATUS_OF_EVENT = {
  'session.status_running': 'running',
  'session.status_idle': 'idle',
  'session.status_rescheduled': 'rescheduling',
  'session.status_terminated': 'terminated',
};

// The state of the session page, fed one event at a time (from the history, then the stream).
class SessionView {
  constructor(id) {
    this.id = id;
    this.seen = new Set();
    this.count = 0;
    this.toolRows = new Map();  // tool_use id -> its row
    this.lastEventId = '';
    this.ended = false;
    this.redrawTimer = null;
    this.live = false;  // the history is drawn once at its end; live turns redraw as they finish
  }

  add(event) {
    if (this.seen.has(event.id)) return;  // a resumed stream never repeats one, but be sure
    this.seen.add(event.id);
    this.lastEventId = event.id;
    this.count += 1;
    const error = isErrorEvent(event);
    const internal = event.type.startsWith(INTERNAL_PREFIX);
    const item = el('li', {
      className: [internal ? 'internal' : '', error ? 'is-error' : ''].join(' ').trim(),
      attrs: { 'data-type': event.type, 'data-id': event.id },
    }, [
      el('span', { className: 'when' }, [timeElement(event.processed_at, { short: true })]),
      el('span', { className: 'type', text: event.type }),
      el('span', {}, [
        ...(error ? [el('span', { className: 'tag-error', text: 'Error: ' })] : []),
        el('span', { text: eventSummary(event) }),
      ]),
    ]);
    $('#events').append(item);

    const status = STATUS_OF_EVENT[event.type];
    if (status) $('#s-status').replaceChildren(statusBadge(status));
    if (event.processed_at) $('#s-updated').replaceChildren(timeElement(event.processed_at));
    if (event.type === 'session.status_terminated') this.ended = true;
    this.trackTool(event);
    this.trackHand(event);
    if (this.live && (event.type === 'session.status_idle' || event.type === 'session.status_terminated')) {
      this.scheduleRedraw();
    }
  }

  trackTool(event) {
    if (event.type === 'agent.tool_use' || event.type === 'agent.custom_tool_use') {
      const row = el('tr', { attrs: { 'data-tool-use': event.id } }, [
        el('td', {}, [el('code', { text: event.name })]),
        el('td', {}, [el('pre', { text: JSON.stringify(event.input, null, 2) })]),
        el('td', { className: 'result' }, [el('pre', { text: '' })]),
        el('td', { className: 'outcome', text: 'waiting' }),
      ]);
      this.toolRows.set(event.id, row);
      $('#tools tbody').append(row);
      $('#tools-empty').hidden = true;
    } else if (event.type === 'wake.tool_started') {
      const row = this.toolRows.get(event.tool_use_id);
      if (row) $('.outcome', row).textContent = 'running';
    } else if (event.type === 'agent.tool_result' || event.type === 'user.custom_tool_result') {
      const row = this.toolRows.get(event.tool_use_id || event.custom_tool_use_id);
      if (!row) return;
      $('.result pre', row).textContent = contentText(event.content);
      const outcome = $('.outcome', row);
      if (event.is_error) {
        row.classList.add('is-error');
        outcome.replaceChildren(el('span', { className: 'tag-error', text: 'error' }));
      } else {
        outcome.textContent = 'ok';
      }
    }
  }

  trackHand(event) {
    const states = { 'wake.hand_provisioned': 'provisioned', 'wake.hand_lost': 'lost', 'wake.hand_released': 'released' };
    const state = states[event.type];
    if (!state) return;
    const stateCell = $('#h-state');
    stateCell.replaceChildren(state === 'lost'
      ? el('span', { className: 'tag-error', text: `lost: ${event.reason}` })
      : el('span', { text: state }));
    $('#hand').classList.toggle('is-error', state === 'lost');
    $('#h-backend').textContent = event.backend || '—';
    $('#h-id').textContent = event.hand_id || '—';
    if (state === 'provisioned') $('#h-provision').textContent = `${(event.duration_us / 1000).toFixed(1)} ms`;
    $('#h-since').replaceChildren(timeElement(event.processed_at));
  }

  scheduleRedraw() {
    clearTimeout(this.redrawTimer);
    this.redrawTimer = setTimeout(() => this.drawTimeline(), 300);
  }

  async drawTimeline() {
    const img = $('#timeline');
    try {
      const response = await api(`/v1/sessions/${encodeURIComponent(this.id)}/timeline.svg?width=1200`, { accept: 'image/svg+xml' });
      const blob = await response.blob();
      const old = img.getAttribute('src');
      img.src = URL.createObjectURL(blob);
      if (old) URL.revokeObjectURL(old);
    } catch (error) {
      if (!(error instanceof AuthError)) img.alt = `The timeline could not be drawn: ${error.message}`;
    }
  }
}

// Splits an SSE byte stream into frames {event, id, data} (the text/event-stream format: fields per
// line, a blank line ends a frame, lines starting with ':' are comments such as keep-alives).
async function* sseFrames(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
  let buffer = '';
  let frame = { event: 'message', id: null, data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      let line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (frame.data.length) yield { event: frame.event, id: frame.id, data: frame.data.join('\n') };
        frame = { event: 'message', id: null, data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) text = text.slice(1);
      if (field === 'event') frame.event = text;
      else if (field === 'id') frame.id = text;
      else if (field === 'data') frame.data.push(text);
    }
  }
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); });
});

// Follows the session's live events, resuming after the last one seen on every reconnect (the API's
// last_event_id), until the session is terminated or the stream is stopped.
async function follow(view, onAuthError) {
  const controller = new AbortController();
  streamController = controller;
  const { signal } = controller;
  const statusLine = $('#stream-status');
  const say = (text, live = false) => { statusLine.textContent = text; statusLine.classList.toggle('is-live', live); };
  let backoff = 500;
  while (!signal.aborted && !view.ended) {
    const query = new URLSearchParams({ include_internal: 'true' });
    if (view.lastEventId) query.set('last_event_id', view.lastEventId);
    try {
      say(view.lastEventId ? 'Reconnecting…' : 'Connecting…');
      const response = await api(`/v1/sessions/${encodeURIComponent(view.id)}/events/stream?${query}`,
                                 { accept: 'text/event-stream', signal });
      say('Live: new events appear as they happen', true);
      backoff = 500;
      for await (const frame of sseFrames(response.body, signal)) {
        if (frame.event === 'error') throw new Error(JSON.parse(frame.data).error?.message || 'stream error');
        view.add(JSON.parse(frame.data));
      }
    } catch (error) {
      if (signal.aborted) break;
      if (error instanceof AuthError) return onAuthError(error);
      say(`Disconnected (${error.message}); retrying in ${Math.round(backoff / 100) / 10} s`);
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 10000);
      continue;
    }
    if (!signal.aborted && !view.ended) {
      say('The stream closed; reconnecting…');
      await sleep(backoff, signal);
    }
  }
  if (streamController !== controller && streamController !== null) return;  // a newer follow() reports
  if (view.ended) say('The session is terminated: no more events will come.');
  else say('Paused: live updates are off');
}

async function startSessionPage() {
  const id = decodeURIComponent(location.pathname.split('/').pop());
  const view = new SessionView(id);
  const onAuthError = (error) => { stopStreams(); showLogin(error.message, startSessionPage); };
  let session;
  try {
    session = await api(`/v1/sessions/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error instanceof AuthError) return onAuthError(error);
    showContent();
    $('#page-title').textContent = `Session ${id}`;
    $('#stream-status').textContent = `Could not load the session: ${error.message}`;
    $('#stream-status').className = 'error';
    return;
  }
  clearData();
  showContent();
  document.title = `${session.title || id} · wake console`;
  $('#page-title').textContent = `Session ${id}`;
  $('#s-status').replaceChildren(statusBadge(session.status));
  $('#s-title').textContent = session.title || '—';
  $('#s-agent').textContent = agentLabel(session.agent);
  $('#s-environment').textContent = session.environment_id || '—';
  $('#s-created').replaceChildren(timeElement(session.created_at));
  $('#s-updated').replaceChildren(timeElement(session.updated_at));
  const parent = forkParent(session);
  if (parent) {
    $('#s-parent').replaceChildren(sessionLink(parent.id), el('span', { text: parent.seq ? ` at event #${parent.seq}` : '' }));
  }
  findForks(id).then((forks) => {
    if (forks.length) $('#s-forks').replaceChildren(...forks.flatMap((f, i) => [...(i ? [el('span', { text: ', ' })] : []), sessionLink(f.id)]));
  }).catch(() => {});

  const internal = $('#show-internal');
  const applyInternal = () => $('#events').classList.toggle('hide-internal', !internal.checked);
  internal.onchange = applyInternal;
  applyInternal();

  // The history first, then the stream from the last event listed, so nothing falls between.
  try {
    let page = '';
    do {
      const query = new URLSearchParams({ include_internal: 'true', limit: '500' });
      if (page) query.set('page', page);
      const result = await api(`/v1/sessions/${encodeURIComponent(id)}/events?${query}`);
      for (const event of result.data) view.add(event);
      page = result.next_page;
    } while (page);
  } catch (error) {
    if (error instanceof AuthError) return onAuthError(error);
    $('#stream-status').textContent = `Could not read the events: ${error.message}`;
  }
  view.drawTimeline();
  view.live = true;
  $('#timeline-refresh').onclick = () => view.drawTimeline();

  const pause = $('#pause');
  pause.onclick = () => {
    const paused = pause.getAttribute('aria-pressed') === 'true';
    pause.setAttribute('aria-pressed', String(!paused));
    pause.textContent = paused ? 'Pause live updates' : 'Resume live updates';
    if (paused) follow(view, onAuthError); else stopStreams();
  };
  follow(view, onAuthError);
}

// Sessions that name `id` as their fork parent (the newest 500 are looked at).
async function findForks(id) {
  const result = await api('/v1/sessions?limit=500&include_archived=true');
  return result.data.filter((s) => forkParent(s)?.id === id);
}

// --- start -------------------------------------------------------------------------------------------

const PAGES = { sessions: startSessionsPage, session: startSessionPage };

function main() {
  const start = PAGES[document.body.dataset.page];
  if (!apiKey()) return showLogin('', start);
  start();
}

main();
