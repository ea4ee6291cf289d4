// Dashboards on another origin, in headless Chromium: a page of an allowed
// origin queries the gateway over HTTP (a preflighted POST with an API key,
// both as X-API-Key and as Authorization) and subscribes over the
// WebSocket, receiving an update; a page of an origin that is not allowed
// can do neither.
//   API_KEY=... ZOOM_SECRET=... ZOOM_EVENT='{...}' node tests/cors.mjs GATEWAY ALLOWED_PAGE DENIED_PAGE
import assert from 'node:assert/strict';
import { withBrowser, deliverZoomEvent } from './browser.mjs';

const [gateway, allowed, denied] = process.argv.slice(2);
const { API_KEY: key, ZOOM_SECRET: secret, ZOOM_EVENT: event } = process.env;
if (!gateway || !allowed || !denied || !key || !secret || !event) {
  console.error('usage: API_KEY=... ZOOM_SECRET=... ZOOM_EVENT=... node tests/cors.mjs <gateway> <allowed page> <denied page>');
  process.exit(2);
}

// Runs in the page: two queries (each header style) and a subscription.
// Resolves once the subscription is acknowledged (or refused); the update
// it then receives lands in window.update.
const tryGateway = async ({ gateway, key }) => {
  const query = async (headers) => {
    try {
      const response = await fetch(`${gateway}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: '{ activeCobrowseConversations(first: 1) { totalCount } }' }),
      });
      const body = await response.json();
      return body.errors ? `errors: ${JSON.stringify(body.errors)}` : `totalCount ${body.data.activeCobrowseConversations.totalCount}`;
    } catch (error) {
      return `blocked: ${error.name}`;
    }
  };
  const subscribed = await new Promise((resolve) => {
    const socket = new WebSocket(`${gateway.replace(/^http/, 'ws')}/graphql/ws`, 'graphql-transport-ws');
    socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { 'X-API-Key': key } }));
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { cobrowseSessionUpdates(provider: ZOOM) { kind providerSessionId } }' } }));
        // The server takes subscribe in order: a ping answered after it
        // means the subscription is in place.
        socket.send(JSON.stringify({ type: 'ping' }));
      } else if (data.type === 'pong') {
        resolve('subscribed');
      } else if (data.type === 'next') {
        window.update = data.payload;
      }
    };
    socket.onclose = (closed) => resolve(`closed before subscribing: ${closed.code}`);
  });
  return { apiKeyHeader: await query({ 'X-API-Key': key }), bearer: await query({ Authorization: `Bearer ${key}` }), subscribed };
};

await withBrowser(async ({ context, watch, leaks }) => {
  const good = watch(await context.newPage());
  await good.goto(allowed, { waitUntil: 'load' });
  const fromAllowed = await good.evaluate(tryGateway, { gateway, key });
  assert.match(fromAllowed.apiKeyHeader, /^totalCount \d+$/, JSON.stringify(fromAllowed));
  assert.match(fromAllowed.bearer, /^totalCount \d+$/, JSON.stringify(fromAllowed));
  assert.equal(fromAllowed.subscribed, 'subscribed', JSON.stringify(fromAllowed));
  await deliverZoomEvent(gateway, secret, event);
  await good.waitForFunction(() => window.update, null, { timeout: 10_000 });
  const update = await good.evaluate(() => window.update);
  assert.equal(update.errors, undefined, JSON.stringify(update));
  assert.equal(update.data.cobrowseSessionUpdates.kind, 'STARTED', JSON.stringify(update));
  console.log(`allowed origin ${new URL(allowed).origin}: ${JSON.stringify(fromAllowed)}, update ${JSON.stringify(update.data)}`);

  const bad = watch(await context.newPage());
  await bad.goto(denied, { waitUntil: 'load' });
  const fromDenied = await bad.evaluate(tryGateway, { gateway, key });
  assert.equal(fromDenied.apiKeyHeader, 'blocked: TypeError', JSON.stringify(fromDenied));
  assert.equal(fromDenied.bearer, 'blocked: TypeError', JSON.stringify(fromDenied));
  assert.match(fromDenied.subscribed, /^closed before subscribing/, JSON.stringify(fromDenied));
  console.log(`denied origin ${new URL(denied).origin}: ${JSON.stringify(fromDenied)}`);
  assert.deepEqual(leaks, [], `requests left loopback: ${leaks.join(', ')}`);
});
console.log('cors: 2 passed, 0 failed');
