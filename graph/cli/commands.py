"""The `sessiongraph` command: serve, migrate, export-schema and key management."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from db.errors import NotFound
from db.keys import create_key, has_keys, list_keys, revoke_key
from db.plans import list_plans, set_plan
from db.records import Plan
from db.store.engine import Database
from db.store.migrate import upgrade_to_head
from graph.app import open_database
from graph.cli.server import run, server_config
from graph.ops.logs import configure_logging
from graph.settings import Settings

DEV_ORG = "org_dev"
DEV_USER = "user_dev"


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


async def _with_db(settings: Settings, action: object) -> object:
    db = open_database(settings)
    try:
        return await action(db)  # type: ignore[operator]
    finally:
        await db.dispose()


async def _prepare(db: Database, settings: Settings) -> str | None:
    """Migrate, and on an empty development database mint a key so the API works at once."""
    if settings.auto_migrate:
        await upgrade_to_head(db)
    if settings.env == "development" and not await has_keys(db):
        _, secret = await create_key(db, DEV_ORG, DEV_USER)
        return secret
    return None


def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    host = host or settings.host
    port = settings.port if port is None else port
    dev_key = asyncio.run(_with_db(settings, lambda db: _prepare(db, settings)))
    print(f"sessiongraph: database {settings.database_url}")
    print(f"sessiongraph: GraphQL at http://{host}:{port}/graphql (GraphiQL in a browser)")
    if dev_key is not None:
        print(f"sessiongraph: DEVELOPMENT API key for {DEV_ORG}/{DEV_USER} (local use only):")
        print(f"    Authorization: Bearer {dev_key}")
    sys.stdout.flush()
    configure_logging(settings.log_level, settings.log_format)
    run(server_config(settings, host=host, port=port, workers=workers))
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
        asyncio.run(_with_db(settings, upgrade_to_head))
        print("sessiongraph: database is at the newest migration")
        return 0
    if args.command == "export-schema":
        from graph.schema.build import printed_schema

        Path(args.path).write_text(printed_schema(federation=args.federation))
        print(f"sessiongraph: schema written to {args.path}")
        return 0
    if args.command == "plans":
        return _plans(settings, args)
    if args.command == "demo":
        return _demo(settings, args)
    if args.command == "graphiql-assets":
        from graph.http.graphiql_assets import main as build_assets

        return build_assets([args.path])
    return _keys(settings, args)


def _plan_line(organization_id: str, plan: Plan) -> str:
    return (
        f"{organization_id}  {plan.name}  maxSessions={plan.max_sessions}"
        f"  maxRequestsPerMinute={plan.max_requests_per_minute}"
    )


def _plans(settings: Settings, args: argparse.Namespace) -> int:
    """`plans set` and `plans show`; sessions keep the plan snapshot they were created with."""
    from db.errors import DomainError

    try:
        if args.plans_command == "set":
            plan = asyncio.run(
                _with_db(
                    settings,
                    lambda db: set_plan(
                        db,
                        args.org,
                        name=args.name,
                        max_sessions=args.max_sessions,
                        max_requests_per_minute=args.max_requests_per_minute,
                    ),
                )
            )
            print(_plan_line(args.org, plan))  # type: ignore[arg-type]
        else:
            plans = asyncio.run(_with_db(settings, lambda db: list_plans(db, args.org)))
            if args.org is not None and not plans:
                raise NotFound(f"organisation {args.org} not found")
            for organization_id, plan in plans:  # type: ignore[attr-defined]
                print(_plan_line(organization_id, plan))
    except DomainError as error:
        print(f"sessiongraph: {error.message}", file=sys.stderr)
        return 1
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from db.errors import DomainError

    try:
        if args.keys_command == "create":

            async def create(db: Database) -> str:
                await upgrade_to_head(db) if settings.auto_migrate else None
                record, secret = await create_key(db, args.org, args.user)
                print(f"created key {record.id} ({record.prefix}…) for {args.org}/{args.user}")
                print("store it now; it is not shown again:")
                return secret

            print(asyncio.run(_with_db(settings, create)))
        elif args.keys_command == "list":
            records = asyncio.run(_with_db(settings, list_keys))
            for r in records:  # type: ignore[attr-defined]
                state = f"revoked {r.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if r.revoked_at else "active"
                print(f"{r.id}  {r.prefix}…  {r.organization_id}  {r.user_id}  {state}")
        else:
            record = asyncio.run(_with_db(settings, lambda db: revoke_key(db, args.id)))
            print(f"revoked key {record.id}")  # type: ignore[attr-defined]
    except DomainError as error:
        print(f"sessiongraph: {error.message}", file=sys.stderr)
        return 1
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from graph.cli.demo import main as demo_main

    url = args.url or f"http://{settings.host}:{settings.port}"
    key = args.key
    if key is None:
        _, key = asyncio.run(
            _with_db(settings, lambda db: create_key(db, DEV_ORG, "user_demo"))  # type: ignore[misc]
        )
        print(f"sessiongraph demo: created a key for {DEV_ORG}/user_demo (use it in /monitor):")
        print(f"    {key}")
    print(f"sessiongraph demo: playing against {url} — watch {url}/monitor")
    return demo_main(url, key, seed=args.seed, runs=args.runs, delay=args.delay)
