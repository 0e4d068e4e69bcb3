"""`snakemake --report`: one HTML file that opens in a browser without a server, with a
section per kind of product. Rendered in Debian's chromium (headless, driven by Playwright):
every section opens and its first item shows (images decoded, the QA table in its frame)."""

import shutil

import pytest
import yaml

from conftest import DEPLOYED, RELATIVE, TINY_IMAGE_QA, deploy, run

CHROMIUM = shutil.which("chromium")
# as root, in a machine without network: no sandbox, no background connections
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium (make test installs it)")


@pytest.fixture(scope="module")
def wide_night(tmp_path_factory):
    """The tiny night with 2-degree images, so that sources are seen in several groups, and its
    variable a 0.19 Jy source seen in its first two groups at SNR 12-16, 1.8x as bright in the
    second (the default one is in one image only): the light curves have a candidate to plot.
    (It was SIM J0905+5336, which no image sees: the plots were of 2-epoch noise until the
    thresholds took the number of epochs into account.)"""
    workdir = deploy(
        tmp_path_factory.mktemp("report"),
        scale="tiny",
        image_qa=TINY_IMAGE_QA,
        variable={"source": "SIM J0905+5352", "fractional_amplitude": 0.8, "period_groups": 4},
    )
    path = workdir / "config/config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["imaging"]["fov_deg"] = 2.0
    path.write_text(yaml.safe_dump(cfg))
    for step in (["inventory"], []):
        result = run(workdir, *step)
        assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in (workdir / DEPLOYED.lightcurves("plots")).glob("*.png")] == ["SIM_J0905+5352.png"]
    return workdir


DECODED_PNGS = (
    "() => Array.from(document.images).filter(i => i.src.startsWith('data:image/png'))"
    ".map(i => [i.naturalWidth, i.naturalHeight])"
)


def shown(page, kind: str, timeout_s: float = 30.0):
    """Wait until the item shows its image (its decoded sizes) or its frame (their texts);
    a fixed half-second wait missed the bandpass plot of a loaded machine."""
    for _ in range(int(timeout_s / 0.2)):
        images = [size for size in page.evaluate(DECODED_PNGS) if size[0] > 0]
        frames = [frame.inner_text("body") for frame in page.frames[1:]]
        if images if kind == "image" else any(text.strip() for text in frames):
            return images, frames
        page.wait_for_timeout(200)
    return images, frames


def png_size(path) -> list[int]:
    """[width, height] of a PNG file, from its IHDR chunk."""
    header = path.read_bytes()[16:24]
    return [int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")]


def open_sections(html, sections):
    """{section: (its items, [(width, height) of each decoded image], text of the frames)} of
    the report, each section ({name: "image" or "frame"}) opened from the home page and its
    first item shown."""
    from playwright.sync_api import sync_playwright

    seen, errors = {}, []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(html.as_uri())
        page.wait_for_load_state("networkidle")
        menu = page.locator("h1").first.locator("..")  # the report's side bar
        for section, kind in sections.items():
            menu.locator("nav ol li a").first.click()  # home
            menu.get_by_text(section, exact=True).click()
            items = menu.locator("tbody tr").all_inner_texts()
            menu.locator('a[iconname="eye"]').first.click()
            images, frames = shown(page, kind)
            seen[section] = (items, images, frames)
        browser.close()
    assert errors == []
    return seen


def test_report_renders_every_section_in_chromium(wide_night, tmp_path):
    html = tmp_path / "report.html"
    result = run(wide_night, "--report", str(html))
    assert result.returncode == 0, result.stderr[-3000:]
    work = wide_night / "work"
    kinds = {"Images": "image", "Calibration": "image", "Mosaics": "image", "Light curves": "image", "Quality": "frame"}
    seen = open_sections(html, kinds)

    groups = sorted(p.name.removesuffix("-thumb.png") for p in (work / "images").glob("*-thumb.png"))
    items, images, _ = seen["Images"]
    assert [i.split()[0] for i in items] == groups and len(groups) == 3
    assert images == [png_size(work / "images" / f"{groups[0]}-thumb.png")]  # the first thumbnail, decoded
    items, images, _ = seen["Calibration"]
    assert [i.split()[0] for i in items] == [p.name for p in (work / "caltables").iterdir()]
    assert len(images) == 1 and images[0][0] > 500  # the bandpass plot
    items, images, _ = seen["Mosaics"]
    assert [i.split()[0] for i in items] == [p.stem for p in (work / "mosaics").glob("*.png")] and images == [
        png_size(next((work / "mosaics").glob("*.png")))
    ]
    items, images, _ = seen["Light curves"]
    assert sorted(i.strip() for i in items) == sorted(
        p.stem for p in (work / RELATIVE.lightcurves("plots")).glob("*.png")
    )
    assert len(images) == 1 and images[0][0] > 300
    _, _, frames = seen["Quality"]
    assert len(frames) == 1 and "images passed" in frames[0]
    assert all(obs in frames[0] for obs in groups)  # one row per image
