// The live co-browse wall: every active co-browse session of every product
// (Genesys Cloud's legacy co-browse and screen share, Genesys Co-browse for
// Messenger, Zoom), with its people and how long it has run, kept
// current over the GraphQL subscription. It uses only the public API, with
// no library: copy it for your own dashboard, set ENDPOINT and HEADERS, and
// keep the three rules marked RULE.
'use strict';

// Where the gateway is, and how this page proves who it is. Outside demo
// mode send an API key or a JWT: { 'X-API-Key': '...' } or
// { Authorization: 'Bearer ...' }. A page on another origin needs that
// origin in the gateway's server.cors_origins.
const ENDPOINT = new URL('/graphql', window.location.href).href;
const HEADERS = {};

const FIELDS = `
  provider product channel mediaType providerSessionId conversationId state startTime durationSeconds
  participants { name role }
  conversation { conversationId }`;
const LIST = `query Wall {
  cobrowseSessions(filter: { state: ACTIVE }, first: 100) { totalCount nodes { ${FIELDS} } }
}`;
const UPDATES = `subscription WallUpdates {
  cobrowseSessionUpdates { kind provider providerSessionId session { ${FIELDS} } }
}`;

const sessions = new Map(); // `${provider}:${providerSessionId}` -> { session, readAt }
let loading = null; // updates that arrive while the list is being read
const key = (provider, id) => `${provider}:${id}`;

// POST a query; a 200 with `errors` is a failure too.
async function query(document) {
  const response = await fetch(ENDPOINT, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...HEADERS },
    body: JSON.stringify({ query: document }),
  });
  const body = await response.json();
  if (body.errors) {
    throw new Error(body.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
  }
  return body.data;
}

// RULE 1: read the list once the subscription is in place, and apply
// the updates that arrived meanwhile on top of it, so none falls between.
// A read begun while another is under way (a reconnect, a lag notice)
// replaces it: only the newest read applies its list and its updates.
let reads = 0;
async function load() {
  const read = ++reads;
  const arrived = [];
  loading = arrived;
  let data = null;
  try {
    data = await query(LIST);
  } catch (error) {
    if (read === reads) status(`cannot read the sessions: ${error.message}`, 'error');
  }
  if (read !== reads) return; // a newer read took over, with its own buffer
  if (data) {
    sessions.clear();
    for (const session of data.cobrowseSessions.nodes) put(session);
  }
  // Stop buffering before applying what was buffered (applying while
  // buffering would buffer it again, for ever).
  loading = null;
  for (const update of arrived) apply(update);
  render();
  // For whoever watches the page (a test): the list has been read.
  document.getElementById('wall').dataset.loaded = String(Date.now());
}

function put(session) {
  sessions.set(key(session.provider, session.providerSessionId), { session, readAt: Date.now() });
}

function apply(update) {
  if (loading) {
    loading.push(update);
    return;
  }
  const { kind, provider, providerSessionId, session } = update;
  if (kind === 'ENDED' || !session || session.state !== 'ACTIVE') {
    sessions.delete(key(provider, providerSessionId));
  } else {
    put(session);
  }
  render();
}

// graphql-transport-ws, by hand: connection_init (with the credentials),
// connection_ack, subscribe, then `next` messages; answer `ping` with `pong`.
function subscribe(attempt = 0) {
  const url = ENDPOINT.replace(/^http/, 'ws') + '/ws';
  const socket = new WebSocket(url, 'graphql-transport-ws');
  socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: HEADERS }));
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === 'connection_ack') {
      attempt = 0;
      socket.send(JSON.stringify({ id: 'wall', type: 'subscribe', payload: { query: UPDATES } }));
      // The gateway reads messages in order: its pong says the
      // subscription is in place.
      socket.send(JSON.stringify({ type: 'ping' }));
    } else if (message.type === 'pong') {
      status('live', 'live');
      load();
    } else if (message.type === 'ping') {
      socket.send(JSON.stringify({ type: 'pong' }));
    } else if (message.type === 'next') {
      // RULE 2: SUBSCRIPTION_LAGGED means updates were missed: read again.
      if (message.payload.errors) load();
      const update = message.payload.data?.cobrowseSessionUpdates;
      if (update) apply(update);
    } else if (message.type === 'error') {
      status(`the subscription was refused: ${message.payload.map((e) => e.message).join('; ')}`, 'error');
    }
  };
  // RULE 3: a socket closes (a deploy, a network change): open another,
  // backing off, and read the list again once it is acknowledged.
  socket.onclose = (event) => {
    const wait = Math.min(30_000, 500 * 2 ** attempt);
    status(`reconnecting in ${Math.round(wait / 1000)} s (closed: ${event.code} ${event.reason})`, 'reconnecting');
    setTimeout(() => subscribe(attempt + 1), wait);
  };
}

function status(text, state) {
  const element = document.getElementById('wall-status');
  element.textContent = text;
  document.getElementById('wall').dataset.state = state;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m}:${String(s % 60).padStart(2, '0')}`;
}

const PRODUCTS = {
  LEGACY_COBROWSE: 'co-browse',
  LEGACY_SCREENSHARE: 'screen share',
  MESSENGER_COBROWSE: 'Messenger co-browse',
  ZOOM_COBROWSE: 'co-browse',
};

function cell(row, text) {
  row.insertCell().textContent = text ?? '';
}

// Names go in with textContent, never as HTML.
function render() {
  const rows = [...sessions.values()].sort((a, b) => (b.session.startTime ?? '').localeCompare(a.session.startTime ?? ''));
  const body = document.getElementById('wall-rows');
  body.replaceChildren();
  for (const { session, readAt } of rows) {
    const row = body.insertRow();
    row.dataset.session = session.providerSessionId;
    row.dataset.product = session.product;
    cell(row, session.provider === 'PURECLOUD' ? 'Genesys Cloud' : 'Zoom');
    cell(row, PRODUCTS[session.product] ?? session.product);
    cell(row, session.conversationId ?? session.providerSessionId);
    cell(row, (session.participants ?? []).map((p) => `${p.name ?? 'someone'} (${p.role.toLowerCase()})`).join(', '));
    const elapsed = (session.durationSeconds ?? 0) + (Date.now() - readAt) / 1000;
    cell(row, duration(elapsed));
  }
  document.getElementById('wall-count').textContent = String(rows.length);
}

subscribe();
setInterval(render, 1000);
