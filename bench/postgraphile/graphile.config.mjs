// PostGraphile v5, the bench's peer: the Amber preset (PostGraphile's default) over the
// bench database's `public` schema; no auth, no GraphiQL, no watch, no explain.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.BENCH_POSTGRAPHILE_DATABASE_URL,
      schemas: ["public"],
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.BENCH_POSTGRAPHILE_PORT),
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};
