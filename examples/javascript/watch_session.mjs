// Query, append and subscribe with the reference `graphql-ws` client.
//
//   npm install && node watch_session.mjs --url http://127.0.0.1:8000 --key sgk_...
//
// Creates a session, watches its events over WebSocket (graphql-transport-ws), appends a
// few over HTTP, completes the session and prints what arrived; the subscription ends by
// itself once the session is terminal.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, value, index, all) => {
    if (value.startsWith("--")) pairs.push([value.slice(2), all[index + 1]]);
    return pairs;
  }, []),
);
const url = args.url || "http://127.0.0.1:8000";
const key = args.key;
const count = Number(args.count || 5);
if (!key) {
  console.error("usage: node watch_session.mjs --url URL --key KEY [--count N]");
  process.exit(2);
}

async function http(query, variables) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors[0].message);
  return body.data;
}

const client = createClient({
  url: url.replace(/^http/, "ws") + "/graphql",
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${key}` },
});

const { createSession } = await http("mutation { createSession(input: {status: GENERATING}) { id } }");
console.log(`created ${createSession.id}`);

const received = [];
const done = new Promise((resolve, reject) => {
  client.subscribe(
    {
      query: "subscription($s: ID!, $a: Int) { sessionEvents(sessionId: $s, afterSequence: $a) { sequence type message } }",
      variables: { s: createSession.id, a: 0 },
    },
    {
      next: (result) => {
        received.push(result.data.sessionEvents);
        console.log("event", JSON.stringify(result.data.sessionEvents));
      },
      error: reject,
      complete: resolve,
    },
  );
});

for (let index = 0; index < count; index++) {
  await http(
    "mutation($s: ID!, $m: String) { appendEvent(sessionId: $s, input: {type: INFO, message: $m}) { sequence } }",
    { s: createSession.id, m: `step ${index + 1}` },
  );
}
await http("mutation($s: ID!) { updateSession(id: $s, input: {status: COMPLETED}) { status } }", { s: createSession.id });
await done;
console.log(`received ${received.length} events: ${received.map((e) => e.sequence).join(",")}`);
await client.dispose();
