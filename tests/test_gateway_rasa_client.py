"""What the gateway sends to Rasa: subscriber text is always text, to the subscriber's replica."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from gateway_fixtures import FakeRasa

from gateway.rasa_client import RasaClient, RasaUnavailable, as_plain_text
from gateway.rasa_replicas import RasaReplicas
from nlu.normalize import normalize


@contextlib.asynccontextmanager
async def two_replicas(one: FakeRasa, two: FakeRasa) -> AsyncIterator[RasaClient]:
    """A client of the two fake replicas, started for the block and stopped after it."""
    await one.start()
    await two.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield RasaClient(http, f"{one.url},{two.url}", timeout_s=5)
    finally:
        await one.stop()
        await two.stop()


def pinned_to(client: RasaClient, url: str) -> str:
    """An openid whose own replica is `url`."""
    return next(f"o{n:027d}" for n in range(100) if client.replicas.ranked(f"o{n:027d}")[0] == url)


@pytest.mark.parametrize("text", ["/::)", "/:rose", " /top_up", '/top_up{"amount": 5000}', "/restart"])
def test_text_starting_with_a_slash_is_not_an_intent_command(text: str) -> None:
    sent = as_plain_text(text)
    assert not sent.lstrip().startswith("/")
    # The NLU still sees the emoji code as the subscriber wrote it.
    assert normalize(sent) == normalize(text.lstrip())


@pytest.mark.parametrize("text", ["查话费", "充50元/月的那个", "1", ""])
def test_other_text_is_sent_unchanged(text: str) -> None:
    assert as_plain_text(text) == text


# --- several Rasa replicas: pinned per subscriber, re-pinned while one is down -------------------


def test_each_subscriber_keeps_one_replica_and_the_replicas_share_the_subscribers() -> None:
    replicas = RasaReplicas(["http://a", "http://b", "http://c"])
    openids = [f"o{n:027d}" for n in range(300)]
    first = {openid: replicas.ranked(openid)[0] for openid in openids}
    assert all(replicas.ranked(openid)[0] == first[openid] for openid in openids)  # stable
    shares = {url: list(first.values()).count(url) for url in replicas.urls}
    assert all(60 <= share <= 140 for share in shares.values()), shares


def test_a_replica_down_moves_only_its_subscribers_and_they_return_when_it_is_back() -> None:
    now = [0.0]
    replicas = RasaReplicas(["http://a", "http://b", "http://c"], down_for_s=10, clock=lambda: now[0])
    openids = [f"o{n:027d}" for n in range(200)]
    before = {openid: replicas.ranked(openid)[0] for openid in openids}
    replicas.mark_down("http://b")
    during = {openid: replicas.ranked(openid)[0] for openid in openids}
    assert "http://b" not in during.values()
    assert all(during[o] == before[o] for o in openids if before[o] != "http://b")
    assert all(replicas.ranked(o)[-1] == "http://b" for o in openids)  # still tried, last
    now[0] = 11.0
    assert {openid: replicas.ranked(openid)[0] for openid in openids} == before


def test_a_turn_moves_to_the_least_busy_replica_only_when_hers_is_busier_by_more_than_the_slack() -> None:
    replicas = RasaReplicas(["http://a", "http://b"], slack=1)
    on_a = [o for o in (f"o{n:027d}" for n in range(100)) if replicas.ranked(o)[0] == "http://a"]
    with replicas.turn_on("http://a", on_a[1]):
        assert replicas.for_turn(on_a[0])[0] == "http://a"  # one more in flight: she stays
        with replicas.turn_on("http://a", on_a[2]):
            assert replicas.for_turn(on_a[0]) == ["http://b", "http://a"]  # two more: the idle one
            with replicas.turn_on("http://b", on_a[3]):
                assert replicas.for_turn(on_a[0])[0] == "http://a"
    assert all(replicas.for_turn(o) == replicas.ranked(o) for o in on_a)  # nothing in flight: her own


def test_a_replica_that_is_down_is_not_chosen_for_being_idle() -> None:
    replicas = RasaReplicas(["http://a", "http://b"], down_for_s=10, clock=lambda: 0.0)
    on_a = next(o for o in (f"o{n:027d}" for n in range(100)) if replicas.ranked(o)[0] == "http://a")
    replicas.mark_down("http://b")
    with replicas.turn_on("http://a", "x1"), replicas.turn_on("http://a", "x2"), replicas.turn_on("http://a", "x3"):
        assert replicas.for_turn(on_a) == ["http://a", "http://b"]


def test_a_retried_message_goes_back_to_the_replica_its_last_attempt_went_to() -> None:
    now = [0.0]
    replicas = RasaReplicas(["http://a", "http://b"], clock=lambda: now[0], recent_s=120)
    on_a = [o for o in (f"o{n:027d}" for n in range(100)) if replicas.ranked(o)[0] == "http://a"]
    her = on_a[0]
    with replicas.turn_on("http://a", on_a[1]), replicas.turn_on("http://a", on_a[2]):
        assert replicas.for_turn(her)[0] == "http://b"  # moved: hers is busier
        with replicas.turn_on("http://b", her):
            pass  # that attempt timed out (it may still run on b)
    with replicas.turn_on("http://b", on_a[1]), replicas.turn_on("http://b", on_a[2]):
        assert replicas.for_turn(her)[0] == "http://a"  # a new message: her own, and the idle one
        assert replicas.for_turn(her, retry=True)[0] == "http://b"  # the retry: where the attempt went
    now[0] = 200.0  # long after: forgotten, her own replica
    with replicas.turn_on("http://a", on_a[1]):
        assert replicas.for_turn(her, retry=True)[0] == "http://a"


async def test_concurrent_turns_of_subscribers_pinned_to_one_replica_spread_over_both() -> None:
    one, two = FakeRasa(delay_s=0.2), FakeRasa(delay_s=0.2)
    await one.start()
    await two.start()
    try:
        async with aiohttp.ClientSession() as http:
            client = RasaClient(http, f"{one.url},{two.url}", timeout_s=5)
            on_one = [o for o in (f"o{n:027d}" for n in range(100)) if client.replicas.ranked(o)[0] == one.url][:6]
            await asyncio.gather(*(client.send(o, "查余额", {"msg_key": f"{o}:1"}) for o in on_one))
            served_by_one = [o for o in on_one if one.turns_for(o)]
            assert 3 <= len(served_by_one) <= 4  # six at once: split, not all queued on one
            assert all(len(one.turns_for(o)) + len(two.turns_for(o)) == 1 for o in on_one)  # each once

            await client.send(on_one[0], "查流量", {"msg_key": f"{on_one[0]}:2"})  # alone: her own again
            assert one.turns_for(on_one[0])[-1] == "查流量"
    finally:
        await one.stop()
        await two.stop()


async def test_a_turn_goes_to_the_subscribers_replica_and_to_the_next_when_it_is_gone() -> None:
    one, two = FakeRasa(), FakeRasa()
    async with two_replicas(one, two) as client:
        openid = pinned_to(client, one.url)
        await client.send(openid, "查余额", {"msg_key": "k1"})
        await client.send(openid, "查流量", {"msg_key": "k2"})
        assert one.turns_for(openid) == ["查余额", "查流量"] and two.turns_for(openid) == []

        await one.stop()  # the replica dies: connections refused
        answer = await client.send(openid, "查套餐", {"msg_key": "k3"})
        assert answer and two.turns_for(openid) == ["查套餐"]
        assert client.replicas.ranked(openid)[0] == two.url
        assert await client.is_up()  # one replica answering is enough


async def test_the_next_replica_gives_the_answer_of_a_turn_that_already_ran_instead_of_a_second_turn() -> None:
    """The tracker store is shared: a turn the dead replica completed is found there (msg_key)."""
    one, two = FakeRasa(), FakeRasa()
    async with two_replicas(one, two) as client:
        openid = pinned_to(client, one.url)
        two.turns.append({"sender": openid, "message": "查余额", "metadata": {"msg_key": "k1"}})  # shared store
        await one.stop()
        answer = await client.send(openid, "查余额", {"msg_key": "k1"})
        expected = two.answer(openid, "查余额", {"msg_key": "k1"})
        assert [m.get("text") for m in answer] == [m.get("text") for m in expected]
        assert len(two.turns_for(openid)) == 1  # no second turn


async def test_a_turn_whose_actions_failed_on_her_replica_is_answered_by_the_next_at_once() -> None:
    """Each Rasa replica has its own action server: while hers is down, the turn is taken back there
    and the next replica answers it (no apology, no waiting for a retry); hers is passed over while
    it is down."""
    from gateway.rasa_client import TAKE_BACK

    one, two = FakeRasa(actions_up=False), FakeRasa()
    async with two_replicas(one, two) as client:
        openid = pinned_to(client, one.url)
        answer = await client.send(openid, "查余额", {"msg_key": "k1"})
        expected = two.answer(openid, "查余额", {"msg_key": "k1"})
        assert [m.get("text") for m in answer] == [m.get("text") for m in expected]
        assert one.tracker_events == [(openid, TAKE_BACK)]  # the failed turn undone where it ran
        assert two.turns_for(openid) == ["查余额"]  # one turn that counts

        await client.send(openid, "查流量", {"msg_key": "k2"})  # straight to the next replica
        assert two.turns_for(openid) == ["查余额", "查流量"] and len(one.tracker_events) == 1


async def test_with_the_actions_of_every_replica_down_the_turn_is_unavailable_and_taken_back_on_each() -> None:
    from gateway.rasa_client import TAKE_BACK, TurnFailedInside

    one, two = FakeRasa(actions_up=False), FakeRasa(actions_up=False)
    async with two_replicas(one, two) as client:
        with pytest.raises(TurnFailedInside):  # the message is deferred, as with one replica
            await client.send("o" + "2" * 27, "查余额", {"msg_key": "k"})
    assert [events for _, events in one.tracker_events + two.tracker_events] == [TAKE_BACK, TAKE_BACK]


async def test_with_every_replica_gone_the_turn_is_unavailable() -> None:
    one = FakeRasa()
    await one.start()
    url = one.url
    await one.stop()
    async with aiohttp.ClientSession() as http:
        client = RasaClient(http, f"{url},{url.replace('127.0.0.1', 'localhost')}", timeout_s=5)
        with pytest.raises(RasaUnavailable):
            await client.send("o" + "1" * 27, "查余额", {"msg_key": "k"})


async def test_a_turn_answered_by_a_fallback_after_failed_actions_is_taken_back_and_retried() -> None:
    """actions/reply_router.py marks such a turn; the client takes it back and reports Rasa unavailable."""
    from aiohttp import web
    from gateway_fixtures import serve

    from core.vocabulary import TURN_FAILED_PAYLOAD
    from gateway.rasa_client import TAKE_BACK

    appended: list[object] = []

    async def rest(_request: web.Request) -> web.Response:
        return web.json_response([{"recipient_id": "o1", "custom": {TURN_FAILED_PAYLOAD: "action_server"}}])

    async def tracker(_request: web.Request) -> web.Response:
        return web.json_response({"events": [{"event": "session_started"}, {"event": "user", "text": "查余额"}]})

    async def events(request: web.Request) -> web.Response:
        appended.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", rest)
    app.router.add_get("/conversations/{sender}/tracker", tracker)
    app.router.add_post("/conversations/{sender}/tracker/events", events)
    runner, url, _ = await serve(app)
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(RasaUnavailable):
                await RasaClient(http, url, timeout_s=5).send("o1", "查余额", {"msg_key": "k1"})
    finally:
        await runner.cleanup()
    assert appended == [TAKE_BACK]
