"""The whole API, live, held to its own OpenAPI schema by schemathesis: generated valid
and invalid requests to every operation (as an authenticated project owner, and with the
credentials stripped or broken), checked for no 5xx ever, only documented statuses and
content types, and the documented error shape.

One check is left out: positive_data_acceptance (a request the schema admits must be
accepted). What makes an entry, a signing request or a bundle acceptable is a signature
over its contents, which no JSON Schema can express: such a request is rightly refused
with a 400 that the schema documents.

The run is deterministic (fixed seed, derandomized generation) and bounded in examples
and time; on failure the assertion shows schemathesis's report with a curl line to
reproduce each finding.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sigportal.livetest import LiveServer, live_server_or_skip

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.timeout(900)]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

_SETUP = """
from django.contrib.auth import get_user_model
from accounts import services
from accounts.models import Identity
user = get_user_model().objects.create(username="fuzz-owner")
Identity.objects.create(
    user=user, issuer="https://issuer.test", subject="fuzz", email="fuzz-owner@example.test"
)
services.project_create(actor=user, slug="fuzz-project", name="Fuzz project")
print(services.api_token_create(user=user, name="schemathesis")[1])
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # A server of its own: the generated writes (projects, signers, revocations) must
    # not reach the database other live tests read.
    yield from live_server_or_skip(tmp_path_factory.mktemp("conformance"), workers=1, threads=4)


def _pinned_schema(server: LiveServer) -> dict:
    """The served schema with path parameters that name things (a project's slug, a
    log's tree id) pinned to ones that exist, so operations reach past their 404."""
    schema = requests.get(f"{server.url}/api/schema/?format=json", timeout=30).json()
    tree_id = requests.get(f"{server.url}/api/v1/log", timeout=30).json()["treeID"]
    pins = {"slug": "fuzz-project", "tree_id": tree_id}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in pins:
                    parameter["schema"] = {"type": "string", "enum": [pins[parameter["name"]]]}
    return schema


def test_every_operation_answers_as_the_schema_says_and_never_5xx(
    server: LiveServer, tmp_path: Path
) -> None:
    token = server.manage("shell", "-c", _SETUP).stdout.strip().splitlines()[-1]
    schema_path = tmp_path / "schema.json"
    # A request line past gunicorn's cap is refused (414) before the app sees it: a
    # rejection too, for requests the schema forbids (an over-long query value).
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[checks.negative_data_rejection]\n"
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "414",'
        ' "415", "422"]\n'
    )
    schema_path.write_text(json.dumps(_pinned_schema(server)))
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            str(schema_path),
            "--url",
            server.url,
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            # Deleting a token (by a generated id) could delete this run's own, and
            # every later request would be a documented 401 that tests nothing.
            "--exclude-operation-id",
            "deleteApiToken",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "25",
            "--seed",
            "20261202",
            "--generation-deterministic",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        cwd=tmp_path,  # its reports and caches stay out of the checkout
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-30_000:] + run.stderr[-5_000:]
    assert "passed" in run.stdout
    # The run's credentials held to the end: its later operations were tested as the
    # project's owner, not refused as anonymous.
    mine = requests.get(
        f"{server.url}/api/v1/account/tokens",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert mine.status_code == 200, mine.text
