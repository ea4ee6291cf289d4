// The gateway's page script (/messenger-cobrowse.js) on a customer's page
// of an allowed origin, in headless Chromium: it subscribes to the
// Messenger's co-browse events, and forwards a session's start and end to
// the gateway (the test that runs this awaits them on a subscription).
//   SESSION_ID=... node tests/messenger.mjs PAGE_URL
import assert from 'node:assert/strict';
import { withBrowser } from './browser.mjs';

const [pageUrl] = process.argv.slice(2);
const { SESSION_ID: session, CHANNEL: channel = 'CobrowseService' } = process.env;
if (!pageUrl || !session) {
  console.error('usage: SESSION_ID=... node tests/messenger.mjs <page url>');
  process.exit(2);
}

await withBrowser(async ({ context, watch, leaks, problems }) => {
  const page = watch(await context.newPage());
  const reports = [];
  page.on('request', (request) => {
    if (request.url().endsWith('/messenger/page-reports')) reports.push(request);
  });
  await page.goto(pageUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => window.simMessenger.subscribed().length === 4, null, { timeout: 10_000 });
  const subscribed = await page.evaluate(() => window.simMessenger.subscribed());
  assert.deepEqual(subscribed, [
    'CobrowseService.sessionEnded', 'CobrowseService.sessionStarted',
    'CobrowseVoice.sessionEnded', 'CobrowseVoice.sessionStarted',
  ]);
  for (const event of ['sessionStarted', 'sessionEnded']) {
    const sent = page.waitForResponse((r) => r.url().endsWith('/messenger/page-reports'), { timeout: 10_000 })
      .catch(() => null);
    await page.evaluate(({ name, session }) => window.simMessenger.emit(name, { sessionId: session }), { name: `${channel}.${event}`, session });
    await sent;
  }
  // Nothing leaves the page but the two reports, each with the session id only.
  assert.equal(reports.length, 2, `reports: ${reports.map((r) => r.postData()).join(', ')}`);
  for (const request of reports) {
    const body = JSON.parse(request.postData());
    assert.deepEqual(Object.keys(body).sort(), ['channel', 'event', 'sessionId']);
    assert.equal(body.sessionId, session);
  }
  assert.deepEqual(leaks, [], `requests left loopback: ${leaks.join(', ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
});
console.log('the page script reported the session');
