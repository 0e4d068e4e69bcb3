"""Every rule declares what the cluster needs; conda environments agree with the lock file."""

import re

import pytest
import yaml

from conftest import ROOT

REQUIRED = ("log:", "benchmark:", "conda:", "threads:", "resources:")


def rule_blocks():
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            yield path.name, match.group(1), match.group(2)


def lock_pins():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


RULES = list(rule_blocks())


@pytest.mark.parametrize("source, name, body", RULES, ids=[f"{s}:{n}" for s, n, _ in RULES])
def test_every_rule_declares_resources_and_environment(source, name, body):
    if name == "all":
        return
    missing = [key for key in REQUIRED if f"\n    {key}" not in "\n" + body]
    assert not missing, f"rule {name} in {source} lacks {missing}"


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_match_the_lock_file(env):
    spec = yaml.safe_load(env.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = lock_pins()
    for requirement in pip:
        if requirement.startswith("-e"):
            continue
        name, version = requirement.split("==")
        assert pins.get(name.lower().replace("_", "-")) == version, f"{env.name}: {requirement} vs lock"


def test_every_rule_names_an_existing_env():
    for source, name, body in RULES:
        match = re.search(r'conda:\s*\n\s*"([^"]+)"', body)
        if match:
            assert (ROOT / "rules" / match.group(1)).resolve().exists(), f"{name}: {match.group(1)}"
