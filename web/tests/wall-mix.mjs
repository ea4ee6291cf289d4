// A demo gateway's live wall in headless Chromium shows every co-browse
// product of a mixed organisation at once: Genesys Cloud's legacy
// co-browse, Genesys Co-browse for Messenger and Zoom, kept current by the
// subscription (no reload).
//   node tests/wall-mix.mjs http://127.0.0.1:PORT
import assert from 'node:assert/strict';
import { withBrowser } from './browser.mjs';

const base = process.argv[2];
if (!base) {
  console.error('usage: node tests/wall-mix.mjs <demo gateway base url>');
  process.exit(2);
}
const PRODUCTS = ['LEGACY_COBROWSE', 'MESSENGER_COBROWSE', 'ZOOM_COBROWSE'];

await withBrowser(async ({ context, watch, leaks, problems }) => {
  const page = watch(await context.newPage());
  let navigations = 0;
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations += 1; });
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#wall[data-state="live"]', { timeout: 30_000 });
  try {
    await page.waitForFunction(
      (products) => products.every((p) => document.querySelector(`#wall-rows tr[data-product="${p}"]`)),
      PRODUCTS,
      { timeout: 30_000 },
    );
  } catch (error) {
    const shown = await page.$$eval('#wall-rows tr', (rows) => rows.map((r) => r.dataset.product));
    throw new Error(`the wall never showed all three products: ${error.message}\nshown: ${shown.join(', ')}`);
  }
  const messenger = await page.locator('#wall-rows tr[data-product="MESSENGER_COBROWSE"]').first().innerText();
  assert.match(messenger, /Messenger co-browse/, messenger);
  assert.equal(navigations, 1, 'the page was reloaded');
  assert.deepEqual(leaks, [], `requests left loopback: ${leaks.join(', ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
  console.log(`the wall showed ${PRODUCTS.join(', ')} together`);
});
