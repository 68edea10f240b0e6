// Shared by both examples: arguments, and a fetch that records what goes over the wire.
import { parseArgs } from "node:util";

export function options() {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:8000" },
      key: { type: "string" },
      get: { type: "boolean", default: false },
    },
  });
  if (!values.key) throw new Error("--key <API key> is required");
  return { uri: `${values.url}/graphql`, key: values.key, get: values.get };
}

// Each request as the server saw it: method, and the query / extensions it carried.
export const seen = [];

export async function loggingFetch(input, init = {}) {
  const url = new URL(typeof input === "string" ? input : input.url);
  const method = (init.method || "GET").toUpperCase();
  const sent = method === "GET" ? Object.fromEntries(url.searchParams) : JSON.parse(init.body);
  const extensions =
    typeof sent.extensions === "string" ? JSON.parse(sent.extensions) : sent.extensions;
  const response = await fetch(input, init);
  const body = await response.clone().json();
  seen.push({
    method,
    hasQuery: typeof sent.query === "string",
    sha256Hash: extensions?.persistedQuery?.sha256Hash ?? null,
    status: response.status,
    error: body.errors?.[0]?.message ?? null,
  });
  return response;
}

export const QUERY_TEXT = `
  query PersistedCount($first: Int) {
    sessions(first: $first) { totalCount }
  }
`;
