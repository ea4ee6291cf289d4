// Opens the home page of a demo gateway in headless Chromium (nothing but
// loopback reachable), waits for its live wall to be live, delivers a
// signed Zoom session_started webhook, and checks that the wall shows the
// session without a reload.
//   ZOOM_SECRET=... WALL_EVENT='{...}' SESSION_ID=... node tests/wall.mjs http://127.0.0.1:PORT
// With HOST_MAP (see browser.mjs) the page is opened by that name, and
// WEBHOOK_BASE says where the webhook goes (Node does not resolve it).
import assert from 'node:assert/strict';
import { withBrowser, deliverZoomEvent } from './browser.mjs';

const base = process.argv[2];
const { ZOOM_SECRET: secret, WALL_EVENT: event, SESSION_ID: session } = process.env;
if (!base || !secret || !event || !session) {
  console.error('usage: ZOOM_SECRET=... WALL_EVENT=... SESSION_ID=... node tests/wall.mjs <gateway base url>');
  process.exit(2);
}

await withBrowser(async ({ context, watch, leaks, problems }) => {
  const page = watch(await context.newPage());
  let navigations = 0;
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations += 1; });
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#wall[data-state="live"]', { timeout: 30_000 });
  // The first read of the list is in: it shows the demo's sessions.
  await page.waitForFunction(() => document.querySelectorAll('#wall-rows tr').length > 0, null, { timeout: 30_000 });
  const before = await page.locator('#wall-rows tr').count();
  assert.equal(await page.locator(`tr[data-session="${session}"]`).count(), 0, 'the session is on the wall before it started');

  const sentAt = Date.now();
  await deliverZoomEvent(process.env.WEBHOOK_BASE ?? base, secret, event);
  const row = page.locator(`tr[data-session="${session}"]`);
  try {
    await row.waitFor({ timeout: 10_000 });
  } catch (error) {
    const status = await page.locator('#wall-status').innerText();
    throw new Error(`the wall did not show the session: ${error.message}\nstatus: ${status}\n${problems.join('\n')}`);
  }
  const shownAfter = Date.now() - sentAt;
  const text = await row.innerText();
  assert.match(text, /Zoom/, text);
  assert.match(text, /Wall Test Customer \(customer\)/, text);
  assert.equal(navigations, 1, 'the page was reloaded');
  assert.deepEqual(leaks, [], `requests left loopback: ${leaks.join(', ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
  console.log(`the wall showed the session ${shownAfter} ms after the webhook, beside ${before} others, without a reload`);
});
console.log('wall: 1 passed, 0 failed');
