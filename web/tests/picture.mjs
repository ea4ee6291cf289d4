// Draws the picture of the live wall the README shows: opens a demo
// gateway's home page in headless Chromium, waits until its wall is live
// and shows every co-browse product at once, and writes a PNG of the wall
// to the path given.
//   node tests/picture.mjs http://127.0.0.1:PORT ../docs/wall.png
import { withBrowser } from './browser.mjs';

const [base, path] = process.argv.slice(2);
if (!base || !path) {
  console.error('usage: node tests/picture.mjs <demo gateway base url> <png path>');
  process.exit(2);
}
const PRODUCTS = ['LEGACY_COBROWSE', 'MESSENGER_COBROWSE', 'ZOOM_COBROWSE'];

await withBrowser(async ({ context, watch, problems }) => {
  const page = watch(await context.newPage());
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#wall[data-state="live"]', { timeout: 30_000 });
  await page.waitForFunction(
    (products) => products.every((p) => document.querySelector(`#wall-rows tr[data-product="${p}"]`)),
    PRODUCTS,
    { timeout: 30_000 },
  );
  if (problems.length > 0) throw new Error(problems.join('\n'));
  await page.locator('#wall').screenshot({ path });
  const rows = await page.locator('#wall-rows tr').count();
  console.log(`drew the wall (${rows} sessions) to ${path}`);
});
