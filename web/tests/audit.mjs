// Runs the graphql-http server audit (GraphQL-over-HTTP conformance) against
// a running gateway: node tests/audit.mjs http://127.0.0.1:PORT/graphql
// Exits non-zero on any error or warning; notices (MAY) are listed only.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node tests/audit.mjs <graphql url>');
  process.exit(2);
}
// AUDIT_AUTHORIZATION, when set, goes on every request as `Authorization`.
const authorization = process.env.AUDIT_AUTHORIZATION;
const fetchFn = authorization
  ? (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', authorization);
      return fetch(input, { ...init, headers });
    }
  : fetch;
const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const result of results.sort((a, b) => a.id.localeCompare(b.id))) {
  const bad = result.status === 'error' || result.status === 'warn';
  if (bad) failed += 1;
  console.log(`${result.status.toUpperCase().padEnd(6)} ${result.id} ${result.name}`);
  if (bad || result.status === 'notice') {
    console.log(`       ${result.reason ?? ''}`);
  }
}
const passed = results.length - failed;
console.log(`audit: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
