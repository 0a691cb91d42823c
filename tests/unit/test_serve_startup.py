"""`pasarela serve` that cannot start says what to fix in one line and exits with its documented
code (gateway.cli.failures), never a traceback; the log level follows flag > env > file > info."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from gateway_harness import tenants_toml

from gateway.cli import failures

NO_ROLE = "postgresql://nosuchrole@127.0.0.1:5432/test"
ACCOUNT = [("facepro", "facepro")]


def serve(tmp_path: Path, toml: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run `pasarela serve` on `toml`; its exit code and stderr lines."""
    config = tmp_path / "tenants.toml"
    config.write_text(toml)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PASARELA_")}
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environment, **(env or {})},
    )
    return proc.returncode, proc.stderr.splitlines()


def plain(lines: list[str]) -> list[str]:
    """The lines that are not JSON log objects."""
    found = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            found.append(line)
    return found


def with_database(url: str, toml: str) -> str:
    return f'[server]\ndatabase = "{url}"\n' + toml


def test_a_missing_postgresql_role_is_one_line_and_exit_3(tmp_path):
    code, lines = serve(tmp_path, with_database(NO_ROLE, tenants_toml(ACCOUNT, second_tenant=False)))
    assert code == failures.EXIT_STORE == 3
    assert plain(lines) == [
        "pasarela serve: PostgreSQL has no such role (postgresql://nosuchrole@127.0.0.1:5432/test): "
        "create it (CREATE ROLE ... LOGIN) or fix the user in [server] database / PASARELA_DATABASE_URL"
    ]
    assert not any("Traceback" in line for line in lines)


def test_an_unreachable_database_is_one_line(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/x"
    code, lines = serve(tmp_path, with_database(url, tenants_toml(ACCOUNT, second_tenant=False)))
    assert code == failures.EXIT_STORE
    assert len(plain(lines)) == 1 and "connection refused; is PostgreSQL running there?" in plain(lines)[0]


def test_an_invalid_tenants_file_is_one_line_and_exit_2(tmp_path):
    bad = tenants_toml(ACCOUNT, second_tenant=False)
    code, lines = serve(tmp_path, bad + "[[tenants.webhooks]]\nurl = 3\n")
    assert code == failures.EXIT_CONFIG == 2
    [line] = lines
    assert line.startswith(f"pasarela serve: invalid tenants file {tmp_path / 'tenants.toml'}: ")
    assert "tenants[t1].webhooks[0].url" in line


def test_a_missing_environment_secret_is_one_line(tmp_path):
    toml = tenants_toml(ACCOUNT, second_tenant=False).replace('token = "t"', 'token = "${NO_SUCH_TOKEN_VAR}"')
    code, lines = serve(tmp_path, toml)
    assert code == failures.EXIT_CONFIG and len(lines) == 1 and "NO_SUCH_TOKEN_VAR" in lines[0]


def test_an_unusable_certificate_is_a_config_problem_and_a_taken_port_exit_4(tmp_path):
    dian = (
        '[[tenants.accounts]]\nname = "dian"\nprovider = "dian"\nenvironment = "test"\n'
        'base_url = "http://127.0.0.1:9/ws"\n'
        'credentials = { software_id = "${SW_ID}", software_pin = "${SW_PIN}", '
        f'certificate = "{tmp_path / "missing.p12"}", certificate_password = "${{P12_PASSWORD}}" }}\n'
    )
    toml = tenants_toml(ACCOUNT, second_tenant=False, extra=dian)
    env = {
        "SW_ID": "e2e00000-1111-2222-3333-444444444444",
        "SW_PIN": "24680",
        "P12_PASSWORD": "p12-secret-value",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, lines = serve(tmp_path, toml, "--port", str(port), env=env)
    assert code == failures.EXIT_PORT == 4
    problems = [json.loads(line) for line in lines if '"config.problem"' in line]
    assert [(p["tenant"], p["account"], p["level"]) for p in problems] == [("t1", "dian", "error")]
    assert problems[0]["error"].startswith("certificate file not readable")
    assert plain(lines) == [
        f"pasarela serve: cannot listen on 127.0.0.1:{port} (Address already in use): stop what uses it or pass --port"
    ]
    assert not any("p12-secret-value" in line for line in lines)


def test_the_log_level_flag_wins_over_the_environment_which_wins_over_the_file(tmp_path):
    """The literal secrets of tenants_toml give `config.warning` lines: shown at warning, not at error."""
    toml = with_database(NO_ROLE, tenants_toml(ACCOUNT, second_tenant=False)).replace(
        "[server]\n", '[server]\nlog_level = "error"\n'
    )

    def warnings(*args: str, env: dict[str, str] | None = None) -> int:
        code, lines = serve(tmp_path, toml, *args, env=env)
        assert code == failures.EXIT_STORE
        return sum('"config.warning"' in line for line in lines)

    assert warnings() == 0  # the file says error
    assert warnings(env={"PASARELA_LOG_LEVEL": "warning"}) > 0
    assert warnings("--log-level", "error", env={"PASARELA_LOG_LEVEL": "warning"}) == 0
    code, lines = serve(tmp_path, toml, env={"PASARELA_LOG_LEVEL": "loud"})
    assert code == failures.EXIT_CONFIG and len(lines) == 1 and "log_level" in lines[0]
