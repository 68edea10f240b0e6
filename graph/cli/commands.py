"""The `sessiongraph` command: serve, migrate, export-schema, keys, plans, demo, assets."""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from db.errors import DomainError, NotFound
from db.keys import create_key, has_keys, list_keys, list_plans, revoke_key, set_plan
from db.store.engine import Database
from db.store.migrate import upgrade_to_head
from graph.app import open_database
from graph.cli.server import run
from graph.ops.logs import configure_logging
from graph.settings import Settings

DEV_ORG = "org_dev"
DEV_USER = "user_dev"
T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sessiongraph", description="GraphQL and REST server for AI generation sessions."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="interface to bind (default SESSIONGRAPH_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SESSIONGRAPH_PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")

    commands.add_parser("migrate", help="apply pending database migrations")

    export = commands.add_parser("export-schema", help="print the GraphQL schema to a file")
    export.add_argument("path", nargs="?", default="schema.graphql")
    export.add_argument(
        "--federation",
        action="store_true",
        help="write the Apollo Federation 2 subgraph SDL (what `_service { sdl }` answers "
        "with SESSIONGRAPH_FEDERATION=true) instead of the plain schema",
    )

    assets = commands.add_parser(
        "graphiql-assets",
        help="rebuild GraphiQL's pinned, integrity-checked files from the npm registry "
        "(graph/http/static/graphiql ships them already)",
    )
    assets.add_argument(
        "path", help="folder to fill: graph/http/static/graphiql, or one for GRAPHIQL_ASSETS_DIR"
    )

    demo = commands.add_parser("demo", help="seed sessions and play a generation run live")
    demo.add_argument("--url", help="server base URL (default http://HOST:PORT from settings)")
    demo.add_argument("--key", help="API key (default: a new key for org_dev/user_demo)")
    demo.add_argument("--seed", type=int, default=4, help="sessions to seed first (default 4)")
    demo.add_argument("--runs", type=int, default=3, help="generation runs to play (default 3)")
    demo.add_argument("--delay", type=float, default=0.6, help="seconds between steps")

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key; prints it once, last line")
    create.add_argument("--org", required=True, help="organisation id, e.g. org_acme")
    create.add_argument("--user", required=True, help="user id, e.g. user_jane")
    key_commands.add_parser("list", help="list keys (never their secrets)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")

    plans = commands.add_parser("plans", help="show and change organisations' plan limits")
    plan_commands = plans.add_subparsers(dest="plans_command", required=True)
    set_plan = plan_commands.add_parser(
        "set", help="change an organisation's plan (only the options given)"
    )
    set_plan.add_argument("--org", required=True, help="organisation id, e.g. org_acme")
    set_plan.add_argument("--name", help="plan name, e.g. Pro")
    set_plan.add_argument("--max-sessions", type=int, help="live sessions allowed")
    set_plan.add_argument(
        "--max-requests-per-minute", type=int, help="requests per minute over every door"
    )
    show = plan_commands.add_parser("show", help="show plans (all organisations by default)")
    show.add_argument("--org", help="only this organisation")
    return parser


def _with_db(settings: Settings, action: Callable[[Database], Awaitable[T]]) -> T:
    async def run_action() -> T:
        db = open_database(settings)
        try:
            return await action(db)
        finally:
            await db.dispose()

    return asyncio.run(run_action())


def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    host = host or settings.host
    port = settings.port if port is None else port

    async def prepare(db: Database) -> str | None:
        """Migrate, and on an empty development database mint a key so the API works at once."""
        if settings.auto_migrate:
            await upgrade_to_head(db)
        if settings.env == "development" and not await has_keys(db):
            return (await create_key(db, DEV_ORG, DEV_USER))[1]
        return None

    dev_key = _with_db(settings, prepare)
    print(f"sessiongraph: database {settings.database_url}")
    print(f"sessiongraph: GraphQL at http://{host}:{port}/graphql (GraphiQL in a browser)")
    if dev_key is not None:
        print(f"sessiongraph: DEVELOPMENT API key for {DEV_ORG}/{DEV_USER} (local use only):")
        print(f"    Authorization: Bearer {dev_key}")
    sys.stdout.flush()
    configure_logging(settings.log_level, settings.log_format)
    run(settings, host=host, port=port, workers=workers)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as error:
        print(f"sessiongraph: invalid configuration: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings, args.host, args.port, args.workers)
    if args.command == "migrate":
        _with_db(settings, upgrade_to_head)
        print("sessiongraph: database is at the newest migration")
    elif args.command == "export-schema":
        from graph.schema.build import printed_schema

        Path(args.path).write_text(printed_schema(federation=args.federation))
        print(f"sessiongraph: schema written to {args.path}")
    elif args.command == "graphiql-assets":
        from graph.http.graphiql_assets import build

        for path in build(Path(args.path)):
            print(f"sessiongraph: wrote {path}")
    elif args.command == "demo":
        return _demo(settings, args)
    else:
        try:
            (_plans if args.command == "plans" else _keys)(settings, args)
        except DomainError as error:
            print(f"sessiongraph: {error.message}", file=sys.stderr)
            return 1
    return 0


def _plans(settings: Settings, args: argparse.Namespace) -> None:
    """`plans set` and `plans show`; sessions keep the plan snapshot they were created with."""
    if args.plans_command == "set":
        options = {o: getattr(args, o) for o in ("name", "max_sessions", "max_requests_per_minute")}
        plan = _with_db(settings, lambda db: set_plan(db, args.org, **options))
        plans = [(args.org, plan)]
    else:
        plans = _with_db(settings, lambda db: list_plans(db, args.org))
        if args.org is not None and not plans:
            raise NotFound(f"organisation {args.org} not found")
    for organization_id, plan in plans:
        print(
            f"{organization_id}  {plan.name}  maxSessions={plan.max_sessions}"
            f"  maxRequestsPerMinute={plan.max_requests_per_minute}"
        )


def _keys(settings: Settings, args: argparse.Namespace) -> None:
    if args.keys_command == "create":

        async def create(db: Database) -> str:
            if settings.auto_migrate:
                await upgrade_to_head(db)
            record, secret = await create_key(db, args.org, args.user)
            print(f"created key {record.id} ({record.prefix}…) for {args.org}/{args.user}")
            print("store it now; it is not shown again:")
            return secret

        print(_with_db(settings, create))
    elif args.keys_command == "list":
        for r in _with_db(settings, list_keys):
            state = f"revoked {r.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if r.revoked_at else "active"
            print(f"{r.id}  {r.prefix}…  {r.organization_id}  {r.user_id}  {state}")
    else:
        print(f"revoked key {_with_db(settings, lambda db: revoke_key(db, args.id)).id}")


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    import httpx

    from graph.cli.demo import DemoError, run_demo

    url = args.url or f"http://{settings.host}:{settings.port}"
    key = args.key
    if key is None:
        _, key = _with_db(settings, lambda db: create_key(db, DEV_ORG, "user_demo"))
        print(f"sessiongraph demo: created a key for {DEV_ORG}/user_demo (use it in /monitor):")
        print(f"    {key}")
    print(f"sessiongraph demo: playing against {url} — watch {url}/monitor")
    try:
        asyncio.run(run_demo(url, key, seed=args.seed, runs=args.runs, delay=args.delay))
    except (DemoError, httpx.HTTPError) as error:
        print(f"sessiongraph demo: {error}", file=sys.stderr)
        return 1
    return 0
