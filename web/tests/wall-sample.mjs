// Opens a demo gateway's wall in headless Chromium, waits until it is live
// and has read its list, and prints how many sessions of each product it
// shows, as JSON: { "LEGACY_COBROWSE": n, ... }. The caller samples it at
// several moments of the demo.
//   node tests/wall-sample.mjs http://127.0.0.1:PORT
import assert from 'node:assert/strict';
import { withBrowser } from './browser.mjs';

const base = process.argv[2];
if (!base) {
  console.error('usage: node tests/wall-sample.mjs <demo gateway base url>');
  process.exit(2);
}

await withBrowser(async ({ context, watch, leaks, problems }) => {
  const page = watch(await context.newPage());
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#wall[data-state="live"][data-loaded]', { timeout: 30_000 });
  const products = await page.$$eval('#wall-rows tr', (rows) => rows.map((r) => r.dataset.product));
  const counts = {};
  for (const product of products) counts[product] = (counts[product] ?? 0) + 1;
  assert.deepEqual(leaks, [], `requests left loopback: ${leaks.join(', ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
  console.log(JSON.stringify(counts));
});
