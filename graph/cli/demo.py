"""`sessiongraph demo`: realistic sessions, then a generation run played out live.

It talks to a running server over its public GraphQL API (not the database), so every
change reaches live subscribers exactly as a real generator's would.
"""

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx

CREATE = "mutation($i: CreateSessionInput!) { createSession(input: $i) { id } }"
UPDATE = (
    "mutation($id: ID!, $i: UpdateSessionInput!) { updateSession(id: $id, input: $i) { status } }"
)
APPEND = (
    "mutation($id: ID!, $i: AppendEventInput!) "
    "{ appendEvent(sessionId: $id, input: $i) { sequence } }"
)

PRODUCTS = [
    ("AI Content Generator", "text-generation", {"maxTokens": 512, "language": "en"}),
    ("Product Photo Studio", "image-generation", {"size": "1024x1024", "style": "studio"}),
    ("Support Triage Bot", "classification", {"labels": ["billing", "bug", "question"]}),
    ("Meeting Summariser", "summarisation", {"maxWords": 200, "language": "en"}),
]
COMPONENTS = ["prompt template", "safety filter", "retrieval index", "output schema", "eval suite"]
# The trouble a run meets before assembling its n-th component: type, message, payload.
TROUBLE: dict[int, tuple[str, str, dict[str, Any]]] = {
    3: ("WARNING", "Retrying {}: slow upstream", {"attempt": 2}),
    4: ("ERROR", "{} check failed once; recovered", {"recovered": True}),
}


class DemoError(Exception):
    pass


class Demo:
    """Drives the API; `say` prints progress for the person watching the terminal."""

    def __init__(
        self, http: httpx.AsyncClient, *, delay: float, say: Callable[[str], None]
    ) -> None:
        self.http, self.delay, self.say = http, delay, say

    async def call(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        if response.status_code == 401:
            raise DemoError("the server refused the API key")
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise DemoError(body["errors"][0]["message"])
        data: dict[str, Any] = body["data"]
        return data

    async def create(self, index: int, status: str = "PENDING") -> str:
        prd = {"productId": f"prod_demo{index:04d}", "name": PRODUCTS[index % len(PRODUCTS)][0]}
        session = {
            "status": status,
            "catalogVersion": "v2.4.1",
            "schemaVersion": "1.0.0",
            "prd": {**prd, "version": "1.0.0"},
            "assemblyState": {"step": "queued", "progress": 0},
        }
        return str((await self.call(CREATE, {"i": session}))["createSession"]["id"])

    async def event(
        self, session_id: str, kind: str, stage: str, message: str, **payload: Any
    ) -> None:
        input: dict[str, Any] = {"type": kind, "stage": stage, "message": message}
        if payload:
            input["payload"] = payload
        data = await self.call(APPEND, {"id": session_id, "i": input})
        sequence = data["appendEvent"]["sequence"]
        self.say(f"  {session_id}  #{sequence:<3} {kind.lower():<7} {stage:<10} {message}")

    async def update(self, session_id: str, status: str | None = None, **state: Any) -> None:
        """A new `status`, assembly state (`step`, `progress`, `details`), or both."""
        input: dict[str, Any] = {"status": status} if status else {}
        if state:
            input["assemblyState"] = state
        await self.call(UPDATE, {"id": session_id, "i": input})

    async def pause(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay * random.uniform(0.5, 1.5))

    async def run(self, index: int) -> str:
        """One generation: pending → generating → assembling → completed, progress rising."""
        session_id = await self.create(index)
        name, kind, config = PRODUCTS[index % len(PRODUCTS)]
        self.say(f"{session_id}: generating '{name}'")
        await self.update(session_id, "GENERATING", step="generating", progress=5)
        model = {"model": "runtype-v1", "temperature": 0.7}
        await self.event(
            session_id, "INFO", "generating", "Generation started", inputParameters=model
        )
        await self.pause()
        tokens = random.randint(300, 900)
        await self.event(session_id, "DEBUG", "generating", "Prompt assembled", tokens=tokens)
        product = {"productObject": {"type": kind, "config": config}}
        await self.call(UPDATE, {"id": session_id, "i": product})
        await self.pause()
        await self.update(session_id, "ASSEMBLING", step="assembling", progress=20)
        for done, component in enumerate(COMPONENTS, start=1):
            await self.pause()
            if done in TROUBLE:
                level, message, payload = TROUBLE[done]
                await self.event(
                    session_id, level, "assembling", message.format(component), **payload
                )
            progress = 20 + int(80 * done / len(COMPONENTS))
            details = {"componentsCompleted": done, "componentsPending": len(COMPONENTS) - done}
            await self.update(session_id, step="assembling", progress=progress, details=details)
            await self.event(
                session_id, "INFO", "assembling", f"Assembled {component} ({progress}%)"
            )
        await self.update(session_id, "COMPLETED", step="done", progress=100)
        self.say(f"{session_id}: completed")
        return session_id


async def run_demo(
    base_url: str,
    key: str,
    *,
    seed: int = 4,
    runs: int = 1,
    delay: float = 0.6,
    say: Callable[[str], None] = print,
) -> list[str]:
    """Seed `seed` sessions in various states, then play `runs` generations one by one."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        demo = Demo(http, delay=delay, say=say)
        say(f"seeding {seed} sessions…")
        for index in range(seed):
            final = ("COMPLETED", "FAILED", "GENERATING", "PENDING")[index % 4]
            session_id = await demo.create(index, "PENDING" if final == "PENDING" else "GENERATING")
            await demo.event(session_id, "INFO", "generating", "Generation started")
            if final == "COMPLETED":
                await demo.update(session_id, final, step="done", progress=100)
            elif final == "FAILED":
                await demo.event(session_id, "ERROR", "generating", "Model quota exhausted")
                await demo.update(session_id, final)
        return [await demo.run(seed + index) for index in range(runs)]
