// Apollo Client 4 with automatic persisted queries: the first run of a query sends only
// its hash, the server answers PersistedQueryNotFound, the link retries with the text;
// every later run sends the hash alone.
//   node apollo.mjs --url http://127.0.0.1:8000 --key <API key> [--get]
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { QUERY_TEXT, loggingFetch, options, seen } from "./log.mjs";

const { uri, key, get } = options();
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

const client = new ApolloClient({
  link: new PersistedQueryLink({ sha256, useGETForHashedQueries: get }).concat(
    new HttpLink({ uri, fetch: loggingFetch, headers: { authorization: `Bearer ${key}` } }),
  ),
  cache: new InMemoryCache(),
});

const query = gql(QUERY_TEXT);
const results = [];
for (let run = 0; run < 2; run++) {
  const { data } = await client.query({ query, variables: { first: 1 }, fetchPolicy: "network-only" });
  results.push(data.sessions.totalCount);
}
console.log(JSON.stringify({ client: "apollo", requests: seen, results }));
