// Runs every graphql-http server audit against URL with an API key; prints the results as JSON.
import { auditServer } from 'graphql-http';

const [url, key] = process.argv.slice(2);

function withKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: withKey });
const report = await Promise.all(
  results.map(async (result) => ({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.status === 'ok' ? null : result.reason,
    response: result.status === 'ok' ? null : await result.response.text().catch(() => null),
  })),
);
console.log(JSON.stringify(report));
