"""Data releases: a MANIFEST of what made a work area's products, and its verification.

The MANIFEST (JSON) holds the validated config, the code version (git commit, dirty or
not), every tool's version (the Python packages of the lock file as installed, WSClean,
AOFlagger and their Debian packages, CASA and its data), the lock file itself, and the
sha256 of every input (the correlator files, the catalogues and flagging strategy the
config names) and every product, with each product's content digest
(`contimg.fingerprint`) beside its bytes' sha256.

`verify` checks a release three ways, and reports per file:
1. the inputs where the release found them, against their sha256;
2. the release's own products, against theirs (changed or missing since the release);
3. a re-run from the MANIFEST's config in a fresh directory, product by product:
   ``identical`` (same bytes), ``same content`` (bytes differ only where the fingerprint
   says they carry no science: FITS HISTORY, CASA table padding and HISTORY, timings),
   ``within tolerance`` (numbers within `closeness.TOLERANCES` of the release's file:
   WSClean's images and what is computed from them vary in their last float32 places),
   else ``differs``; ``missing`` and ``unexpected`` files too.
The re-run is skipped when an input differs (it could not reproduce the release), unless
the inputs are simulated, which the re-run simulates again (and compares).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from . import closeness, fingerprint, naming
from .config import SURVEY

MANIFEST_VERSION = 1
ROOT = Path(__file__).resolve().parents[1]
# config keys naming input files (section, key)
CONFIG_FILES = (
    ("instrument", "station_table"),
    ("inventory", "calibrator_catalog"),
    ("conversion", "aoflagger_strategy"),
    ("calibration", "field_catalog"),
    ("imaging", "catalog"),
    ("photometry", "catalog"),
    ("simulation", "sky_catalog"),
    ("simulation", "calibrator_catalog"),
)
NOT_PRODUCTS = ("logs", "benchmarks", "index", "release", "quarantine")  # how runs went, not what they made
APT_TOOLS = {"wsclean": ["wsclean", "--version"], "aoflagger": ["aoflagger", "--version"]}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, or of a directory's files (names and bytes, in order;
    casacore's lock files left out: opening a table rewrites them)."""
    if path.is_file():
        return fingerprint.bytes_sha256([path]).hexdigest()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != "table.lock")
    return fingerprint.bytes_sha256(files, root=path).hexdigest()


def product_checksums(path: Path) -> dict:
    """{"sha256": of the bytes, "digest": `fingerprint.digest`} of one product, each file read
    once where the digest is the bytes' sha256."""
    digest = fingerprint.digest(path)
    sha = digest.removeprefix("sha256:") if digest.startswith("sha256:") else file_sha256(path)
    return {"sha256": sha, "digest": digest}


def config_inputs(config: dict) -> dict[str, str]:
    """{``config:section.key``: path} of the input files the config names (the survey's files
    as ``config:survey.files.K``; a catalogue key saying `survey` names a product, not a file)."""
    inputs = {}
    for section, key in CONFIG_FILES:
        if config[section].get(key) and config[section][key] != SURVEY:
            inputs[f"config:{section}.{key}"] = config[section][key]
    for k, path in enumerate(config.get("survey", {}).get("files", [])):
        inputs[f"config:survey.files.{k}"] = path
    return inputs


def input_files(config: dict, workdir: Path) -> dict[str, Path]:
    """{name in the manifest: path} of every input: the files the config names
    (``config:section.key``) and the correlator files in paths.incoming (``incoming:NAME``)."""
    inputs = {name: workdir / rel for name, rel in config_inputs(config).items()}
    incoming = workdir / config["paths"]["incoming"]
    if incoming.is_dir():
        for path in sorted(incoming.iterdir()):
            if naming.parse_raw_filename(path.name):
                inputs[f"incoming:{path.name}"] = path
    return inputs


def product_files(config: dict, workdir: Path) -> dict[str, Path]:
    """{path relative to paths.work: path} of every product (each CASA table as one)."""
    work = (workdir / config["paths"]["work"]).resolve()
    skip = set(NOT_PRODUCTS)
    incoming = (workdir / config["paths"]["incoming"]).resolve()
    if incoming.is_relative_to(work):
        skip.add(incoming.relative_to(work).parts[0])
    return fingerprint.product_paths(work, skip=tuple(skip))


def software_versions() -> dict:
    """Versions of every Python package of the lock file as installed, the Debian tools and CASA's data."""
    packages = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name = line.split("==")[0].strip()
        if name and not name.startswith("#"):
            try:
                packages[name] = version(name)
            except PackageNotFoundError:
                packages[name] = None
    tools = {}
    for name, cmd in APT_TOOLS.items():
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip().splitlines()
        deb = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True, text=True, check=False
        )
        tools[name] = {"version": out[0] if out else None, "debian_package": deb.stdout.strip() or None}
    return {"python": sys.version.split()[0], "packages": packages, "tools": tools}


def recorded_versions(products: dict[str, Path]) -> dict[str, list[str]]:
    """{tool: versions} as the jobs recorded them (``software`` and ``versions`` of the
    JSON records): what made the products, wherever each job ran."""
    found: dict[str, set[str]] = {}
    for path in products.values():
        if path.suffix != ".json":
            continue
        record = json.loads(path.read_text())
        for key in ("software", "versions"):
            if isinstance(record, dict) and isinstance(record.get(key), dict):
                for tool, value in record[key].items():
                    if isinstance(value, str):
                        found.setdefault(tool, set()).add(value)
    return {tool: sorted(values) for tool, values in sorted(found.items())}


def code_version() -> dict:
    """The workflow's git commit (and whether the checkout had changes), and contimg's version."""

    def git(*args):
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "contimg": version("contimg"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
    }


def build(name: str, config: dict, workdir: Path) -> dict:
    """The MANIFEST of release ``name`` of the work area the config in ``workdir`` describes."""
    products = product_files(config, workdir)
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": name,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "workdir": str(workdir.resolve()),
        "config": config,
        "code": code_version(),
        "software": software_versions(),
        "software_recorded_by_jobs": recorded_versions(products),
        "environment_lock": (ROOT / "requirements.lock").read_text(),
        "tolerances": closeness.TOLERANCES,
        "inputs": {key: file_sha256(path) for key, path in input_files(config, workdir).items()},
        "products": {rel: product_checksums(path) for rel, path in products.items()},
    }


def publish(name: str, config: dict, workdir: Path, path: Path, log) -> bool:
    """Write the MANIFEST of release ``name`` to ``path`` once; return whether it was written now.

    A hard link ``.MANIFEST.published`` beside it keeps the release: when the MANIFEST is
    gone again (a forced re-run: Snakemake deletes a job's output first, write-protected
    or not when run as root), it is put back unchanged instead of rewritten.
    """
    kept = path.with_name(f".{path.name}.published")
    if kept.exists():
        if not path.exists():
            os.link(kept, path)
        log.warning("release %s was made before: its MANIFEST is kept as it was (a new release needs a new name)", name)
        return False
    manifest = build(name, config, workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.link(tmp, kept)
    os.replace(tmp, path)
    log.info(
        "release %s: %d inputs, %d products; code %s%s",
        name,
        len(manifest["inputs"]),
        len(manifest["products"]),
        manifest["code"]["git_commit"],
        " (with uncommitted changes)" if manifest["code"]["git_dirty"] else "",
    )
    return True


def check_files(expected: dict[str, str], paths: dict[str, Path]) -> dict[str, str]:
    """{name: "ok" | "changed" | "missing"} of files against their expected sha256."""
    return {
        key: "missing"
        if key not in paths or not paths[key].exists()
        else "ok"
        if file_sha256(paths[key]) == sha
        else "changed"
        for key, sha in expected.items()
    }


def compare(expected: dict, path: Path, original: Path | None) -> str:
    """How a re-run's product at ``path`` compares with the release's (its manifest entry,
    and the release's file at ``original`` if it is still intact)."""
    checksums = product_checksums(path)
    if checksums["sha256"] == expected["sha256"]:
        return "identical"
    if checksums["digest"] == expected["digest"]:
        return "same content"
    diff = None if original is None else closeness.within_tolerance(path, original)
    if diff is not None:
        return f"within tolerance ({diff:.1e})"
    return "differs"


def rerun(manifest: dict, fresh: Path, cores: int, log) -> dict:
    """Run the workflow from the MANIFEST's config in ``fresh`` (inventory, then everything);
    return the config it ran with. The work area (and the truth of a simulation) go into
    ``fresh`` even where the release's were absolute paths; the input files the config
    names are copied from the release's directory, real correlator files linked (their
    checksums were compared first)."""
    if fresh.exists() and any(fresh.iterdir()):
        raise FileExistsError(f"{fresh} is not empty: the re-run needs a fresh directory")
    workdir = Path(manifest["workdir"])
    config = json.loads(json.dumps(manifest["config"]))
    for key in ("work", "truth"):
        if Path(config["paths"][key]).is_absolute():
            config["paths"][key] = key
    for rel in config_inputs(config).values():
        if not Path(rel).is_absolute():
            (fresh / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(workdir / rel, fresh / rel)
    incoming = config["paths"]["incoming"]
    if not config["simulation"]["enabled"] and not Path(incoming).is_absolute():
        (fresh / incoming).mkdir(parents=True, exist_ok=True)
        for key, path in input_files(config, workdir).items():
            if key.startswith("incoming:"):
                os.symlink(path.resolve(), fresh / incoming / path.name)
    (fresh / "config").mkdir(parents=True, exist_ok=True)
    (fresh / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for step in (["inventory"], []):
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", str(cores), *step]
        log(f"$ {' '.join(cmd)}  (in {fresh})")
        done = subprocess.run(cmd, cwd=fresh, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the re-run failed in {fresh}: {done.stderr[-2000:]}")
    return config


def verify(manifest_path: Path, fresh: Path | None, cores: int = 2, log=print) -> dict:
    """The per-file report of `verify` (see the module's docstring); ``fresh`` None: no re-run."""
    manifest = json.loads(manifest_path.read_text())
    workdir = Path(manifest["workdir"])
    config = manifest["config"]
    report = {
        "release": manifest["name"],
        "inputs": check_files(manifest["inputs"], input_files(config, workdir)),
        "products": check_files(
            {k: v["sha256"] for k, v in manifest["products"].items()}, product_files(config, workdir)
        ),
    }
    bad_inputs = [k for k, v in report["inputs"].items() if v != "ok"]
    if fresh is None:
        report["rerun"] = {"skipped": "not asked for"}
    elif bad_inputs and not config["simulation"]["enabled"]:
        report["rerun"] = {"skipped": f"{len(bad_inputs)} input(s) differ from the release's: it cannot be reproduced"}
    else:
        fresh_config = rerun(manifest, fresh, cores, log)
        produced = product_files(fresh_config, fresh)
        originals = product_files(config, workdir)
        intact = {k for k, v in report["products"].items() if v == "ok"}
        rerun_report = {
            rel: "missing"
            if rel not in produced
            else compare(entry, produced[rel], originals[rel] if rel in intact else None)
            for rel, entry in manifest["products"].items()
        }
        rerun_report.update({rel: "unexpected" for rel in produced if rel not in manifest["products"]})
        report["rerun"] = {
            "work": str(fresh / fresh_config["paths"]["work"]),
            "products": rerun_report,
            "inputs": check_files(manifest["inputs"], input_files(fresh_config, fresh)),
        }
    report["problems"] = problems(report)
    return report


def problems(report: dict) -> list[str]:
    """One line per file that does not match the release."""
    lines = [f"input {k}: {v}" for k, v in report["inputs"].items() if v != "ok"]
    lines += [f"product {k}: {v} since the release" for k, v in report["products"].items() if v != "ok"]
    rerun = report["rerun"]
    if "skipped" in rerun:
        return lines
    lines += [f"re-run input {k}: {v}" for k, v in rerun["inputs"].items() if v != "ok"]
    ok = ("identical", "same content")
    lines += [
        f"re-run product {k}: {v}"
        for k, v in rerun["products"].items()
        if v not in ok and not v.startswith("within tolerance")
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    """``contimg-release verify MANIFEST --into DIR``: print the per-file report; exit 1 on any problem."""
    import argparse

    parser = argparse.ArgumentParser(prog="contimg-release", description="Verify a data release of the workflow.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('contimg')}")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="check inputs and products against a MANIFEST, and re-run it")
    check.add_argument("manifest", type=Path, help="work/release/NAME/MANIFEST")
    check.add_argument("--into", type=Path, help="a fresh directory for the re-run (default: no re-run)")
    check.add_argument("--cores", type=int, default=2)
    check.add_argument("--report", type=Path, help="also write the report here (JSON)")
    args = parser.parse_args(argv)
    if not args.manifest.is_file():
        parser.exit(1, f"contimg-release: {args.manifest}: no such MANIFEST\n")
    report = verify(args.manifest, args.into, args.cores, log=lambda line: print(line, file=sys.stderr))
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    counts: dict[str, int] = {}
    for status in (report["rerun"].get("products") or {}).values():
        counts[status.split(" (")[0]] = counts.get(status.split(" (")[0], 0) + 1
    print(
        f"release {report['release']}: {sum(v == 'ok' for v in report['inputs'].values())}/{len(report['inputs'])} "
        f"inputs and {sum(v == 'ok' for v in report['products'].values())}/{len(report['products'])} products "
        "as released"
    )
    print(
        "re-run: "
        + (
            report["rerun"]["skipped"]
            if "skipped" in report["rerun"]
            else ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        )
    )
    for line in report["problems"]:
        print(line)
    return 1 if report["problems"] else 0
