// An Apollo Gateway in front of a sessiongraph subgraph and a tiny "labels" subgraph
// whose `Label.session` only references sessions by id, so the gateway must ask
// sessiongraph's `_entities` for them.
//
//   node gateway.mjs --subgraph http://127.0.0.1:8000/graphql --key sg_...
//
// Prints "gateway ready at <url>" once composed, and serves until stdin closes.
// The client's Authorization header goes to every subgraph; `--key` is used only for
// the `_service { sdl }` fetch that composition makes before any client request.
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

function option(name) {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0 || index + 1 >= process.argv.length) {
    throw new Error(`missing --${name}`);
  }
  return process.argv[index + 1];
}

const subgraphUrl = option("subgraph");
const compositionKey = option("key");

const labelsTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  type Query { label(sessionId: ID!): Label }
  type Label { text: String!  session: Session }
  type Session @key(fields: "id", resolvable: false) { id: ID! }
`);
const labelsResolvers = {
  Query: {
    label: (_, { sessionId }) => ({
      text: `label of ${sessionId}`,
      session: { __typename: "Session", id: sessionId },
    }),
  },
};

async function listen(server, context) {
  const { url } = await startStandaloneServer(server, {
    listen: { host: "127.0.0.1", port: 0 },
    context,
  });
  return url;
}

const labels = new ApolloServer({
  schema: buildSubgraphSchema([{ typeDefs: labelsTypeDefs, resolvers: labelsResolvers }]),
});
const labelsUrl = await listen(labels);

class ForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    const authorization = context?.authorization ?? `Bearer ${compositionKey}`;
    request.http.headers.set("authorization", authorization);
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: "sessiongraph", url: subgraphUrl },
      { name: "labels", url: labelsUrl },
    ],
  }),
  buildService: ({ url }) => new ForwardingDataSource({ url }),
});
const server = new ApolloServer({ gateway });
// A request without the header forwards none: the subgraph then refuses it (401).
const url = await listen(server, async ({ req }) => ({
  authorization: req.headers.authorization ?? "",
}));
console.log(`gateway ready at ${url}`);

process.stdin.resume();
process.stdin.on("end", async () => {
  await server.stop();
  await labels.stop();
  process.exit(0);
});
