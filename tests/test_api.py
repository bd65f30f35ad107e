"""SPEC §8 over HTTP: pages and cursors, 404/405/422/503, CORS, health, linked habits."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from anyio import to_thread

from habitctl.api.app import ROUTE_THREADS, make_api_engine
from habitctl.core.public import HabitPublic, encode_cursor
from tests.api import add_public, api_client, crawl, login_role_database
from tests.cli import Cli
from tests.pg import PostgresCluster, free_port

ORIGIN = "https://habits.example.org"


def _seed_mixed(cli: Cli, count: int) -> list[int]:
    """`count` public habits among private ones of two users; the public ids, ascending."""
    alice, bob = cli.signup(), cli.as_user("bob").signup()
    public = []
    for n in range(count):
        owner = alice if n % 2 else bob
        public.append(add_public(owner, f"stretch {n}")["id"])
        if n % 3 == 0:
            owner.add(f"hidden {n}", "--at", "08:00", "--place", "attic", "--reward", "cake")
    return public


def test_pages_follow_cursors_through_every_public_habit_in_id_order(cli: Cli) -> None:
    public = _seed_mixed(cli, 23)
    with api_client(cli.database_url) as client:
        for limit in (1, 7, 23, 100):
            assert [item["id"] for item in crawl(client, limit)] == public
        first = client.get("/public/habits").json()
        second = client.get("/public/habits", params={"cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 20, "the default page holds 20"
    assert [item["id"] for item in second["items"]] == public[20:]
    assert second["next_cursor"] is None


def test_an_exactly_full_last_page_has_no_next_cursor(cli: Cli) -> None:
    public = _seed_mixed(cli, 4)
    with api_client(cli.database_url) as client:
        page = client.get("/public/habits", params={"limit": 4}).json()
    assert [item["id"] for item in page["items"]] == public
    assert page["next_cursor"] is None


def test_items_carry_exactly_the_published_fields(cli: Cli) -> None:
    cli.signup()
    cli.ok("profile", "--timezone", "Europe/Berlin")
    habit = add_public(cli, "read one page", "--every", "2", "--duration", "90")
    with api_client(cli.database_url) as client:
        listed = client.get("/public/habits").json()["items"]
        single = client.get(f"/public/habits/{habit['id']}")
    assert single.headers["content-type"] == "application/json"
    assert listed == [single.json()]
    assert single.json() == {
        "id": habit["id"],
        "owner": "alice",
        "action": "read one page",
        "place": "home",
        "time": "07:30",
        "timezone": "Europe/Berlin",
        "periodicity_days": 2,
        "duration_seconds": 90,
        "is_pleasant": False,
        "reward": "a walk",
        "linked_habit": None,
    }
    HabitPublic.model_validate(single.json())


def test_linked_habit_is_shown_only_while_it_is_public(cli: Cli) -> None:
    cli.signup()
    tea = cli.add("have tea", "--at", "07:35", "--place", "kitchen", "--pleasant")
    useful = add_public(cli, "meditate", "--linked", str(tea["id"]))
    with api_client(cli.database_url) as client:
        path = f"/public/habits/{useful['id']}"
        assert client.get(path).json()["linked_habit"] is None
        assert "have tea" not in client.get("/public/habits").text
        cli.ok("edit", str(tea["id"]), "--public")
        assert client.get(path).json()["linked_habit"] == {"id": tea["id"], "action": "have tea"}
        listed = client.get("/public/habits").json()["items"]
        assert [item["linked_habit"] for item in listed] == [None, {"id": 1, "action": "have tea"}]


def test_private_and_missing_habits_answer_the_same_404(cli: Cli) -> None:
    cli.signup()
    private = cli.add("secret", "--at", "07:30", "--place", "x", "--reward", "y")
    with api_client(cli.database_url) as client:
        hidden = client.get(f"/public/habits/{private['id']}")
        missing = client.get("/public/habits/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert hidden.headers == missing.headers
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", "99999999999999999999"])
def test_a_limit_outside_1_to_100_is_a_422_json_answer(database_url: str, limit: str) -> None:
    with api_client(database_url) as client:
        response = client.get("/public/habits", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "limit"


@pytest.mark.parametrize("limit", [1, 100])
def test_limits_1_and_100_are_accepted(database_url: str, limit: int) -> None:
    with api_client(database_url) as client:
        assert client.get("/public/habits", params={"limit": limit}).status_code == 200


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not-a-cursor",
        _b64("x"),
        _b64("0"),
        _b64("-5"),
        _b64("007"),
        _b64("1"),  # padded: not the spelling we issue
        _b64("2147483648"),
        _b64("1e3"),
        "A" * 17,
    ],
)
def test_a_cursor_we_did_not_issue_is_a_422_json_answer(database_url: str, cursor: str) -> None:
    with api_client(database_url) as client:
        response = client.get("/public/habits", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "cursor"


def test_a_cursor_past_the_end_gives_an_empty_last_page(database_url: str) -> None:
    with api_client(database_url) as client:
        response = client.get("/public/habits", params={"cursor": encode_cursor(2**31 - 1)})
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("habit_id", ["abc", "0", "-1", "2147483648", "9" * 30])
def test_a_bad_habit_id_is_a_422_json_answer(database_url: str, habit_id: str) -> None:
    with api_client(database_url) as client:
        response = client.get(f"/public/habits/{habit_id}")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "habit_id"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_write_method_is_405(database_url: str, method: str) -> None:
    with api_client(database_url, [ORIGIN]) as client:
        for path in ("/public/habits", "/public/habits/1", "/healthz", "/openapi.json"):
            response = client.request(method, path, json={"action": "x"})
            assert response.status_code == 405, (method, path)
            assert set(response.headers["allow"].split(", ")) <= {"GET", "HEAD"}
            assert response.json()["error"]["code"] == "method_not_allowed"


def test_cors_lets_a_configured_origin_get_and_nothing_else(database_url: str) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    with api_client(database_url, [ORIGIN]) as client:
        allowed = client.options("/public/habits", headers=preflight)
        get = client.get("/public/habits", headers={"Origin": ORIGIN})
        post = client.options(
            "/public/habits", headers={**preflight, "Access-Control-Request-Method": "POST"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["access-control-allow-methods"] == "GET"
    assert get.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in get.headers
    assert post.status_code == 400
    assert "POST" not in post.headers.get("access-control-allow-methods", "")


def test_cors_says_nothing_to_other_origins(database_url: str) -> None:
    stranger = "https://evil.example.com"
    preflight = {"Origin": stranger, "Access-Control-Request-Method": "GET"}
    with api_client(database_url, [ORIGIN]) as client:
        options = client.options("/public/habits", headers=preflight)
        get = client.get("/public/habits", headers={"Origin": stranger})
    assert get.status_code == 200
    for response in (options, get):
        assert "access-control-allow-origin" not in response.headers
    with api_client(database_url) as client:  # no origins configured: no CORS at all
        get = client.get("/public/habits", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in get.headers


def test_healthz_is_ok_when_the_database_answers(database_url: str) -> None:
    with api_client(database_url) as client:
        response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_openapi_and_docs_are_served(database_url: str) -> None:
    with api_client(database_url) as client:
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert set(schema["paths"]) == {"/public/habits", "/public/habits/{habit_id}", "/healthz"}
    assert {"get"} == {method for path in schema["paths"].values() for method in path}
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_an_unreachable_database_is_503_everywhere(tmp_path: Path, where: str) -> None:
    url = (
        f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
        if where == "sqlite"
        else f"postgresql+psycopg2://habitctl:hunter2@127.0.0.1:{free_port()}/habitctl"
    )
    with api_client(url) as client:
        health = client.get("/healthz")
        page = client.get("/public/habits")
        one = client.get("/public/habits/1")
    assert (health.status_code, health.json()) == (503, {"status": "unavailable"})
    for response in (page, one):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "storage_unavailable"
        assert "127.0.0.1" not in response.text
        assert "hunter2" not in response.text


def test_the_endpoint_recovers_when_the_database_comes_back(
    pg_cluster: PostgresCluster | None,
) -> None:
    url, role = login_role_database(pg_cluster)
    assert pg_cluster is not None
    with api_client(url, role=None) as client:
        assert client.get("/public/habits").status_code == 200
        # The database goes away for this role: new logins refused, open connections cut.
        pg_cluster.execute(f"ALTER ROLE {role} NOLOGIN")
        pg_cluster.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        )
        assert client.get("/public/habits").status_code == 503
        assert client.get("/healthz").status_code == 503
        pg_cluster.execute(f"ALTER ROLE {role} LOGIN")
        assert client.get("/healthz").status_code == 200
        assert client.get("/public/habits").status_code == 200


def test_routes_run_on_a_few_threads_with_a_connection_each(database_url: str) -> None:
    """Under load, the requests beyond ROUTE_THREADS wait in order on the event loop rather
    than 40 threads taking turns at the GIL (benchmarks/README.md: the HTTP tail)."""
    with api_client(database_url) as client:
        assert client.portal is not None
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
        for _ in range(3):
            assert client.get("/public/habits").status_code == 200
    assert tokens == ROUTE_THREADS
    if database_url.startswith("postgresql"):
        engine = make_api_engine(database_url)
        assert engine.pool.size() == ROUTE_THREADS  # type: ignore[attr-defined]
        engine.dispose()
