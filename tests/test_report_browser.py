"""The HTML report in a real browser: built by the assets against the emulator, downloaded, then
opened from disk in headless Chromium (Debian's, driven by playwright)."""

import shutil
from pathlib import Path

import dagster
import pytest
from dagster import materialize

from orchestrator.assets import registry_reports
from tests.builders import bucket_needing_attention, module_assets
from tests.report_samples import OSS_DIFF, cloud_registry, oss_registry, to_bytes, with_hostile_source

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ICON_PATH = "metadata/airbyte/source-faker/latest/icon.svg"
ICON_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
    b'<rect width="24" height="24" rx="5" fill="#615eff"/><circle cx="12" cy="12" r="6" fill="#fff"/></svg>'
)

pytestmark = pytest.mark.browser


@pytest.fixture
def report_file(resources, tmp_path) -> Path:
    """Registries (with a hostile name and an icon in the bucket) -> the real assets -> the HTML object on disk."""
    with dagster.build_resources(
        {
            "registry_directory_manager": resources["registry_directory_manager"],
            "gcs_bucket_manager": resources["gcs_bucket_manager"],
        }
    ) as bound:
        bound.gcs_bucket_manager.write(ICON_PATH, ICON_SVG)
        oss = with_hostile_source(oss_registry())
        oss["sources"][0]["iconUrl"] = bound.gcs_bucket_manager.public_url(ICON_PATH)  # Faker
        bound.registry_directory_manager.write("oss_registry.json", to_bytes(oss))
        bound.registry_directory_manager.write("cloud_registry.json", to_bytes(cloud_registry()))
        bound.gcs_bucket_manager.write("orchestrator_state/oss_registry_diff.json", to_bytes(OSS_DIFF))

        result = materialize(module_assets(registry_reports), resources=resources)
        assert result.success
        html = bound.gcs_bucket_manager.read("generated_reports/connector_registry_report.html")
    assert html is not None
    path = tmp_path / "connector_registry_report.html"
    path.write_bytes(html[0])
    return path


@pytest.fixture
def attention_report_file(gcs_env, resources, tmp_path) -> Path:
    """A bucket the real pipeline left needing attention -> the report assets -> the HTML on disk."""
    bucket_needing_attention(gcs_env, resources)
    assert materialize(module_assets(registry_reports), resources=resources).success
    html = gcs_env["metadata"].read("generated_reports/connector_registry_report.html")
    assert html is not None
    path = tmp_path / "attention_report.html"
    path.write_bytes(html[0])
    return path


def open_in_chromium(path: Path):
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(
            f"{CHROMIUM} is not installed and could not be "
            "(run `bash scripts/ensure_system_deps.sh`, which apt-installs it)"
        )
    from playwright.sync_api import ConsoleMessage, Dialog, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            problems: list[str] = []

            def on_dialog(dialog: Dialog) -> None:
                problems.append(f"dialog: {dialog.message}")
                dialog.dismiss()

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    problems.append(f"console: {message.text}")

            vars(page)["problems"] = problems  # the tests read page.problems; Page declares no such attribute
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("dialog", on_dialog)
            page.on("console", on_console)
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            yield page
        finally:
            browser.close()


@pytest.fixture
def page(report_file):
    yield from open_in_chromium(report_file)


@pytest.fixture
def attention_page(attention_report_file):
    yield from open_in_chromium(attention_report_file)


def names(page, table):
    return page.locator(f"#{table} tbody tr:visible .name").all_inner_texts()


def test_report_in_browser(page, tmp_path):
    # One row per connector of either registry: 4 OSS + 1 hostile OSS-only, MySQL Cloud-only.
    assert page.locator("#sources-table tbody tr").count() == 5
    assert page.locator("#destinations-table tbody tr").count() == 3
    assert page.locator('[data-counts="sources"] [data-count="oss"]').inner_text() == "4"
    assert page.locator('[data-counts="destinations"] [data-count="cloud"]').inner_text() == "2"

    # The hostile name is shown as text, and nothing it carries ran.
    assert "<script>alert(1)</script>" in names(page, "sources-table")
    assert page.locator("body script").count() == 1

    # The Faker icon was loaded from the bucket.
    icon = page.locator('#sources-table tr[data-definition-id="dfd88b22-b603-4c3d-aad7-3701784586b1"] img')
    page.wait_for_function("(img) => img.complete", arg=icon.element_handle())
    assert icon.evaluate("(img) => img.naturalWidth") > 0

    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})  # a small laptop screen
    page.screenshot(path=str(tmp_path / "report-laptop.png"))

    # Sorting: names start ascending; a click on the header reverses them, another restores them.
    initial = names(page, "sources-table")
    assert initial == sorted(initial, key=str.casefold)
    page.get_by_role("button", name="Name / definition id").first.click()
    assert names(page, "sources-table") == list(reversed(initial))
    assert page.locator("#sources-table th").nth(1).get_attribute("aria-sort") == "descending"
    page.get_by_role("button", name="Name / definition id").first.click()
    assert names(page, "sources-table") == initial
    # Another column: Cloud presence, ascending puts the OSS-only connectors first.
    page.locator("#sources-table th", has_text="Cloud").filter(has_not_text="Image").locator("button").click()
    presence = page.locator("#sources-table tbody tr td:nth-child(7)").all_inner_texts()
    assert presence == sorted(presence, key=lambda text: text == "yes")

    # Filtering hides rows that do not match, and says how many are shown.
    sources_filter = page.locator('[data-filter-for="sources-table"]')
    sources_filter.fill("postgres")
    assert names(page, "sources-table") == ["Postgres"]
    assert page.locator('[data-shown-for="sources-table"]').inner_text() == "1 of 5 shown"
    assert page.locator("#destinations-table tbody tr:visible").count() == 3  # the other table is untouched
    sources_filter.fill("6.2.19")  # any visible text matches, images included
    assert names(page, "sources-table") == ["Sample Data (Faker)"]
    sources_filter.fill("no such connector")
    assert names(page, "sources-table") == []
    assert page.locator('[data-empty-for="sources-table"]').is_visible()
    sources_filter.fill("")
    assert len(names(page, "sources-table")) == 5

    page.locator('[data-filter-for="destinations-table"]').fill("snow")
    page.screenshot(path=str(tmp_path / "report-filtered.png"), full_page=True)
    assert names(page, "destinations-table") == ["Snowflake"]

    assert page.problems == []


def test_needs_attention_section_in_browser(attention_page, tmp_path):
    section = attention_page.locator("#attention")
    assert section.is_visible()
    assert section.locator("h2").inner_text() == "Needs attention (8)"
    invalid = attention_page.locator("#invalid-files tbody tr")
    assert invalid.count() == 2
    assert "metadata/airbyte/source-broken/1.1.0/metadata.yaml" in invalid.first.inner_text()
    assert "data.license" in invalid.first.inner_text()
    failed = attention_page.locator("#failed-entries tbody tr").all_inner_texts()
    assert len(failed) == 4 and all("no spec in the spec cache" in row for row in failed)
    stale = attention_page.locator("#stale-connectors tbody tr").all_inner_texts()
    assert len(stale) == 2 and all("1.3.0" in row and "source-stale:1.2.3" in row for row in stale)
    for registry in ("oss", "cloud"):
        published = attention_page.locator(f'time[data-published="{registry}"]').inner_text()
        assert published.endswith("Z") and published[:2] == "20"
    attention_page.screenshot(path=str(tmp_path / "attention.png"), full_page=True)
    assert attention_page.problems == []
