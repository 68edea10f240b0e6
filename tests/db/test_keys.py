"""API keys on both databases: hashed at rest, revocable, unknown and revoked alike."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from db.errors import InvalidInput, NotFound, Unauthenticated
from db.keys import authenticate, create_key, key_hash_of, list_keys, revoke_key
from db.models import api_keys
from db.store.engine import Database
from tests.conftest import unique


async def test_key_round_trip_and_storage(db: Database) -> None:
    org, user = unique("org"), unique("user")
    record, secret = await create_key(db, org, user)
    principal = await authenticate(db, secret)
    assert (principal.organization_id, principal.user_id, principal.key_id) == (
        org,
        user,
        record.id,
    )
    async with db.read() as conn:
        stored = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == record.id))).one()
    assert stored.key_hash == key_hash_of(secret) and secret not in stored
    assert secret.startswith(record.prefix)
    assert record.id in {k.id for k in await list_keys(db)}


async def test_revoked_and_unknown_keys_fail_alike(db: Database) -> None:
    record, secret = await create_key(db, unique("org"), unique("user"))
    revoked = await revoke_key(db, record.id)
    assert revoked.revoked_at is not None
    assert (await revoke_key(db, record.id)).revoked_at == revoked.revoked_at
    messages = set()
    for candidate in (secret, "sgk_" + "0" * 40):
        with pytest.raises(Unauthenticated) as caught:
            await authenticate(db, candidate)
        messages.add(caught.value.message)
    assert len(messages) == 1
    for candidate in (None, "", "not-a-key", "sgk_" + "x" * 500):
        with pytest.raises(Unauthenticated):
            await authenticate(db, candidate)
    with pytest.raises(NotFound):
        await revoke_key(db, "key_0000000000000000")


async def test_names_are_checked(db: Database) -> None:
    for org, user in (("", "u"), ("o", ""), (" o", "u"), ("o", "u\n"), ("o" * 256, "u")):
        with pytest.raises(InvalidInput):
            await create_key(db, org, user)
