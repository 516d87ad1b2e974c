"""The identity-aware proxy's cost: added latency on the Bearer path and token-endpoint rate.

Starts `aerovane standalone` (SQLite, examples off), creates a service account with a key, gets
an ID token from the token service through the proxy, then times GET /api/v1/dags N times each
way, sequentially and interleaved, with one keep-alive httpx client per path:

- proxy: the public port with `Authorization: Bearer <ID token>` (verify the token, apply the
  policy, add the identity headers, call the API in-process, which verifies the assertion);
- direct (basic): the API server's own port with basic auth (a cached password check);
- direct (assertion): the API server's own port with the assertion the proxy would forward, so
  the difference to the proxy is the proxy's own work.

Then jwt-bearer grants per second at POST /token through the proxy (C concurrent clients).
Target: the proxy adds at most 1 ms at p50.

Usage: python benchmarks/proxy.py [-n 2000] [--concurrency 8] [--seconds 5]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import standalone

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _service_account(home: Path) -> dict[str, str]:
    """Create a service account and key in the running server's database."""
    os.environ["AEROVANE_HOME"] = str(home)
    from aerovane.config import reload_settings

    reload_settings()
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        account = sa.create_service_account("bench-robot", session=session)
        return sa.create_key(account.email, session=session).key_file


def _assertion(key: dict[str, str], **claims: object) -> str:
    now = int(time.time())
    body = {
        "iss": key["client_email"],
        "sub": key["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(
        body, key["private_key"], algorithm="RS256", headers={"kid": key["private_key_id"]}
    )


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def _time(client: httpx.Client, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    took = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return took


def latency(proxy: str, direct: str, auth: tuple[str, str], token: str, n: int) -> None:
    assertion_header: dict[str, str] = {}
    with httpx.Client(base_url=proxy) as via_proxy, httpx.Client(base_url=direct) as via_api:
        bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        basic = {
            "Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode(),
            "Accept": "application/json",
        }
        # Warm up every path (first requests register the user and sign the assertion).
        for _ in range(200):
            _time(via_proxy, "/api/v1/dags", bearer)
            _time(via_api, "/api/v1/dags", basic)
        from aerovane.db.engine import create_session
        from aerovane.identity import Principal, iap_audience, sign_iap_assertion

        claims = jwt.decode(token, options={"verify_signature": False})
        principal = Principal("serviceAccount", claims["email"], claims["sub"])
        with create_session() as session:
            assertion_header = {
                "X-Goog-IAP-JWT-Assertion": sign_iap_assertion(
                    principal,
                    audience=iap_audience(),
                    namespace="accounts.google.com",
                    session=session,
                ),
                "Accept": "application/json",
            }
        for _ in range(200):
            _time(via_api, "/api/v1/dags", assertion_header)
        samples: dict[str, list[float]] = {"proxy": [], "basic": [], "assertion": []}
        for _ in range(n):
            samples["proxy"].append(_time(via_proxy, "/api/v1/dags", bearer))
            samples["basic"].append(_time(via_api, "/api/v1/dags", basic))
            samples["assertion"].append(_time(via_api, "/api/v1/dags", assertion_header))
    p50, p99 = _percentiles(samples["proxy"])
    b50, b99 = _percentiles(samples["basic"])
    a50, a99 = _percentiles(samples["assertion"])
    print(f"GET /api/v1/dags, sequential, n={n} each (interleaved)")
    print(f"  proxy, Bearer ID token      p50 {p50:6.3f} ms   p99 {p99:6.3f} ms")
    print(f"  direct, basic auth          p50 {b50:6.3f} ms   p99 {b99:6.3f} ms")
    print(f"  direct, IAP assertion       p50 {a50:6.3f} ms   p99 {a99:6.3f} ms")
    print(f"  added vs direct basic auth:   p50 {p50 - b50:+.3f} ms   p99 {p99 - b99:+.3f} ms")
    print(f"  added vs direct assertion:    p50 {p50 - a50:+.3f} ms   p99 {p99 - a99:+.3f} ms")
    verdict = "met" if p50 - b50 <= 1.0 else "MISSED"
    print(f"  target <= 1 ms added at p50 (vs direct basic auth): {verdict}")


def token_throughput(proxy: str, key: dict[str, str], concurrency: int, seconds: float) -> None:
    from aerovane.identity import oauth_client_id

    form = {
        "grant_type": JWT_BEARER,
        "assertion": _assertion(key, target_audience=oauth_client_id()),
    }
    counts = [0] * concurrency
    errors = [0] * concurrency
    stop = threading.Event()

    def worker(index: int) -> None:
        with httpx.Client(base_url=proxy) as client:
            while not stop.is_set():
                response = client.post("/token", data=form)
                if response.status_code == 200 and "id_token" in response.json():
                    counts[index] += 1
                else:
                    errors[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    total = sum(counts)
    print(
        f"POST /token (jwt-bearer → ID token) via the proxy, {concurrency} clients, "
        f"{took:.1f} s: {total / took:,.0f} grants/s ({sum(errors)} errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with standalone({"AEROVANE__CORE__LOAD_EXAMPLES": "False"}) as server:
        key = _service_account(server.home)
        from aerovane.identity import oauth_client_id

        response = httpx.post(
            f"{server.proxy_url}/token",
            data={
                "grant_type": JWT_BEARER,
                "assertion": _assertion(key, target_audience=oauth_client_id()),
            },
        )
        response.raise_for_status()
        token = response.json()["id_token"]
        latency(server.proxy_url, server.url, server.auth, token, args.n)
        token_throughput(server.proxy_url, key, args.concurrency, args.seconds)


if __name__ == "__main__":
    main()
