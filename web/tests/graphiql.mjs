// Opens GraphiQL from a running gateway in headless Chromium with no network
// beyond loopback, runs a query through the UI and checks its result.
// Fails if any request (page, asset, fetch, websocket) leaves loopback.
//   node tests/graphiql.mjs http://127.0.0.1:PORT
import assert from 'node:assert/strict';
import { withBrowser } from './browser.mjs';

const base = process.argv[2];
if (!base) {
  console.error('usage: node tests/graphiql.mjs <gateway base url>');
  process.exit(2);
}
// Named like the default query's operation, so GraphiQL's operation name
// is right whether or not it has re-parsed the editor yet.
const QUERY = 'query Dashboard { activeCobrowseConversations { totalCount nodes { conversationId } } }';

await withBrowser(async ({ context, watch, leaks, problems }) => {
  const page = watch(await context.newPage());
  await page.goto(`${base}/graphiql`, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 30_000 });
  await page.evaluate((query) => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query);
  }, QUERY);
  await page.click('.graphiql-execute-button');
  try {
    await page.waitForFunction(() => {
      const viewer = document.querySelector('.graphiql-response .CodeMirror');
      return viewer && viewer.CodeMirror.getValue().includes('totalCount');
    }, null, { timeout: 30_000 });
  } catch (error) {
    const shown = await page.evaluate(() => document.querySelector('.graphiql-response')?.innerText ?? '(no response pane)');
    throw new Error(`no result appeared: ${error.message}\nresponse pane: ${shown}\n${problems.join('\n')}\nleaks: ${leaks.join(', ')}`);
  }
  const shown = await page.evaluate(() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue());
  const result = JSON.parse(shown);
  assert.equal(result.errors, undefined, `the query failed: ${shown}`);
  assert.ok(result.data.activeCobrowseConversations.totalCount > 0, shown);
  assert.ok(result.data.activeCobrowseConversations.nodes[0].conversationId, shown);
  assert.deepEqual(leaks, [], `requests left loopback: ${leaks.join(', ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
  console.log(`GraphiQL ran the query: ${result.data.activeCobrowseConversations.totalCount} active conversations`);
});
console.log('graphiql: 1 passed, 0 failed');
