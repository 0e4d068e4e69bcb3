"""Every rule declares what the cluster needs; conda environments agree with the lock file."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

REQUIRED = ("log:", "benchmark:", "conda:", "envmodules:", "threads:", "resources:")


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
    """Its conda environment, and the environment module of the same family (envs/modules)."""
    for source, name, body in RULES:
        match = re.search(r'conda:\s*\n\s*"([^"]+)"', body)
        if match:
            assert (ROOT / "rules" / match.group(1)).resolve().exists(), f"{name}: {match.group(1)}"
            module = re.search(r'envmodules:\s*\n\s*"([^"]+)"', body).group(1)
            assert module == f"contimg/{Path(match.group(1)).stem}", f"{name}: {module}"
            assert (ROOT / "envs/modules" / f"{module}.lua").resolve() == ROOT / "envs/modulefile.lua"


# import name -> distribution name, where they differ
DISTRIBUTION = {
    "casacore": "python-casacore",
    "yaml": "PyYAML",
    "erfa": "pyerfa",
    "astropy_iers_data": "astropy-iers-data",
    "PIL": "pillow",
}
STDLIB = set(__import__("sys").stdlib_module_names)


def _module_file(name):
    """contimg.x.y -> its source file (module or package __init__), or None."""
    base = ROOT / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_modules(path, seen=None):
    """Top-level modules imported by a script, following imports of the contimg package."""
    import ast

    seen = set() if seen is None else seen
    package = (
        ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1]) if path.is_relative_to(ROOT / "contimg") else ""
    )
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside contimg
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                module = f"{parent}.{node.module}" if node.module else parent
            else:
                module = node.module
            names = [module] + ([f"{module}.{a.name}" for a in node.names] if module.startswith("contimg") else [])
        for name in names:
            top = name.split(".")[0]
            if top == "contimg":
                module = _module_file(name)
                if module is not None and module not in seen:
                    seen.add(module)
                    found |= imported_modules(module, seen)
            elif top not in STDLIB:
                found.add(top)
    return found


def test_import_following_reaches_subpackages():
    """The checker itself: a script importing contimg.calibration must pull in CASA, and erfa
    through the solve's sky model and its geometry (..geometry, two levels of relative import)."""
    script = ROOT / "scripts" / "solve_calibration.py"
    assert {"casatasks", "casacore", "erfa"} <= imported_modules(script)


@pytest.mark.parametrize(
    "source, name, body",
    [r for r in RULES if "script:" in r[2]],
    ids=[f"{s}:{n}" for s, n, b in RULES if "script:" in b],
)
def test_each_env_provides_what_its_script_imports(source, name, body):
    script = ROOT / "rules" / re.search(r'script:\s*\n\s*"([^"]+)"', body).group(1)
    env = ROOT / "rules" / re.search(r'conda:\s*\n\s*"([^"]+)"', body).group(1)
    spec = yaml.safe_load(env.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    provided = {r.split("==")[0].lower() for r in pip if not r.startswith("-e")}
    needed = {DISTRIBUTION.get(m, m).lower() for m in imported_modules(script.resolve())}
    assert needed <= provided, f"rule {name}: {env.name} lacks {sorted(needed - provided)}"


@pytest.mark.parametrize("script", sorted((ROOT / "scripts").glob("*.py")), ids=lambda p: p.name)
def test_scripts_read_only_what_their_rule_declares(script):
    """A setting a script takes from snakemake.config is invisible to Snakemake's re-run triggers:
    change it and nothing re-runs (the SEFD and the station table did exactly that). A job that
    records the whole config (index, release) takes it as a parameter."""
    reads_config = re.search(r"\bsnakemake\.config\b|\bsmk\.config\b", script.read_text())
    assert not reads_config, f"{script.name} reads snakemake.config (declare it as a params of its rule)"


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["snakefmt", "--check", "Snakefile", "rules"]],
    ids=" ".join,
)
def test_code_is_lint_clean_and_formatted(command):
    """One style, by the tools (pyproject.toml): no `# fmt: skip`, no hand-wrapped exceptions."""
    tool = Path(sys.executable).parent / command[0]
    done = subprocess.run([str(tool), *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


def test_the_package_installs_as_a_package(tmp_path):
    """The wheel installed (not editable) into a fresh virtual environment: every contimg module
    imports from it and its console scripts run; its declared dependencies are what the package
    imports, each admitting the lock's version. (The dependencies themselves come from this
    environment through a .pth line, so no registry is needed.)"""
    import shutil
    import sysconfig
    import zipfile

    from packaging.requirements import Requirement

    def run(*command):
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done.stdout.strip()

    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ there
    shutil.copytree(ROOT / "contimg", source / "contimg", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path, source)  # as `pip install .` builds
    (wheel,) = tmp_path.glob("contimg-*.whl")
    run(sys.executable, "-m", "venv", tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    every = "import contimg, importlib, pkgutil\nfor m in pkgutil.walk_packages(contimg.__path__, 'contimg.'):\n"
    imported = run(python, "-c", every + "    importlib.import_module(m.name)\nprint(contimg.__file__)")
    assert Path(imported.splitlines()[-1]).is_relative_to(site)
    for script in ("contimg-query", "contimg-release", "contimg-catalog"):
        run(tmp_path / "venv" / "bin" / script, "--help")
        assert run(tmp_path / "venv" / "bin" / script, "--version") == f"{script} 0.1.0"
    run(tmp_path / "venv" / "bin" / "contimg-browse", "--help")

    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    declared = [
        Requirement(line.split(":", 1)[1]) for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    ]
    pins = lock_pins()
    for requirement in declared:
        locked = pins[requirement.name.lower().replace("_", "-")]
        assert requirement.specifier.contains(locked), f"{requirement} excludes the lock's {locked}"
    needed = set()
    for module in (ROOT / "contimg").rglob("*.py"):
        needed |= {DISTRIBUTION.get(m, m).lower() for m in imported_modules(module)}
    plugins = {"datasette-vega", "datasette-render-html"}  # contimg-browse's Datasette plugins: run, not imported
    assert {r.name.lower() for r in declared} == needed | plugins
    assert "License-File: LICENSE" in metadata or "LICENSE" in metadata
