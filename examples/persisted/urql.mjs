// urql with @urql/exchange-persisted: the same exchange of hash, miss, text, then hash.
//   node urql.mjs --url http://127.0.0.1:8000 --key <API key> [--get]
import { Client, fetchExchange, gql } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";
import { QUERY_TEXT, loggingFetch, options, seen } from "./log.mjs";

const { uri, key, get } = options();

const client = new Client({
  url: uri,
  exchanges: [persistedExchange({ preferGetForPersistedQueries: get }), fetchExchange],
  fetch: loggingFetch,
  fetchOptions: { headers: { authorization: `Bearer ${key}` } },
  preferGetMethod: false,
  requestPolicy: "network-only",
});

const query = gql(QUERY_TEXT);
const results = [];
for (let run = 0; run < 2; run++) {
  const { data, error } = await client.query(query, { first: 1 }).toPromise();
  if (error) throw error;
  results.push(data.sessions.totalCount);
}
console.log(JSON.stringify({ client: "urql", requests: seen, results }));
