// What the browser tests share: headless Chromium that reaches nothing but
// loopback (every request that tries to leave is recorded and aborted), and
// a signed Zoom webhook delivery.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
// HOST_MAP=name=127.0.0.1:PORT: a name browsers resolve to the gateway, as
// a proxy in front of it would be reached (the name counts as loopback).
const [mappedName, mappedTo] = (process.env.HOST_MAP ?? '').split('=');
if (mappedName) LOOPBACK.add(mappedName);
const isLocal = (url) => {
  const parsed = new URL(url);
  return ['data:', 'blob:', 'about:'].includes(parsed.protocol) || LOOPBACK.has(parsed.hostname);
};

// Runs `body(context, leaks, problems)` in a fresh profile, then closes it;
// `leaks` are requests that tried to leave loopback, `problems` page errors
// and console errors of the pages `watch` was called on.
export async function withBrowser(body) {
  const profile = mkdtempSync(join(tmpdir(), 'gateway-browser-'));
  const leaks = [];
  const problems = [];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      // Nothing but loopback resolves: the network beyond it is unavailable.
      `--host-resolver-rules=${mappedName ? `MAP ${mappedName} ${mappedTo}, ` : ''}MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost`,
    ],
  });
  const watch = (page) => {
    page.on('websocket', (ws) => { if (!isLocal(ws.url())) leaks.push(ws.url()); });
    page.on('pageerror', (error) => problems.push(`page error: ${error}`));
    page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
    return page;
  };
  // A missing icon is a console error in a visible browser (headless ones
  // may not ask for it): any answer for it that is not a success is one.
  context.on('response', (response) => {
    if (new URL(response.url()).pathname === '/favicon.ico' && response.status() >= 400) {
      problems.push(`favicon: ${response.status()} for ${response.url()}`);
    }
  });
  try {
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      leaks.push(url);
      return route.abort();
    });
    return await body({ context, watch, leaks, problems });
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// Posts `body` (a JSON string) to the gateway's Zoom webhook, signed with
// `secret` as Zoom signs: v0=hex(HMAC-SHA256(secret, `v0:${ts}:${body}`)).
export async function deliverZoomEvent(base, secret, body) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = 'v0=' + createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  const response = await fetch(`${base}/webhooks/zoom`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-zm-request-timestamp': timestamp, 'x-zm-signature': signature },
    body,
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`the webhook was refused: ${response.status} ${text}`);
  return text;
}
