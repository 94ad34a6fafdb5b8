//! The weekly report as a head sees it, measured in a real browser (headless Chromium,
//! installed by `scripts/test-browser.sh`): every page fits window widths from 800 to
//! 1,920 px without scrolling sideways, and printed on A4 (the print stylesheet at A4's
//! printable width: 188 mm portrait for unit pages, 275 mm landscape for the index) no
//! table runs past the page's edge and table headers repeat on every printed page.

use std::path::{Path, PathBuf};
use std::process::Command;

use cwkpi::CheckedExport;

use super::{report, root, week};

/// Installs Chromium once per run; one that cannot be installed fails the test.
fn browser_installed() {
    crate::common::installed(&["test-browser.sh"], "headless Chromium is");
}

/// Measures the page in a window `width` px wide, every folded list opened: how wide the
/// document is against the window, and which elements reach past the white page.
/// With `print`, the print stylesheet applies on screen, as it does on paper.
const MEASURE: &str = r#"<script>
document.querySelectorAll("details").forEach((d) => { d.open = true; });
const page = document.querySelector(".page").getBoundingClientRect();
const over = [];
for (const e of document.querySelectorAll(".page *")) {
  // Hidden helpers, and what an SVG clips at its own edge.
  if (e.closest(".sr, .totop") || (e.ownerSVGElement && e.tagName !== "svg")) continue;
  const r = e.getBoundingClientRect();
  if (r.width > 0 && r.right > page.right + 1) {
    const section = e.closest("section");
    over.push(`${e.tagName.toLowerCase()}${e.getAttribute("class") ? "." + e.getAttribute("class") : ""} in ${section ? section.getAttribute("aria-labelledby") : "page"}: ${Math.round(r.right - page.right)} px past`);
  }
}
const thead = document.querySelector("thead");
const result = {
  document: document.documentElement.scrollWidth,
  window: window.innerWidth,
  over: over.slice(0, 12),
  thead: thead ? getComputedStyle(thead).display : "",
};
document.body.innerHTML = "<pre id=\"fit\"></pre>";
document.getElementById("fit").textContent = JSON.stringify(result);
</script>"#;

fn measure(page: &Path, width: u32, print: bool) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    let html = if print { html.replace("@media print {", "@media all {") } else { html };
    let html = html.replace("</body>", &format!("{MEASURE}</body>"));
    let copy = page.with_file_name(format!(
        "measure-{width}{}-{}",
        if print { "-print" } else { "" },
        page.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&copy, html).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--hide-scrollbars", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},1000"))
        .arg(format!("file://{}", copy.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let json =
        dom.split("<pre id=\"fit\">").nth(1).and_then(|s| s.split("</pre>").next()).unwrap_or_else(|| {
            panic!("no measurement of {}: {}", copy.display(), String::from_utf8_lossy(&out.stderr))
        });
    serde_json::from_str(&json.replace("&quot;", "\"").replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"))
        .unwrap()
}

/// A4 less the page's margins (11 mm each side) in CSS pixels, 96 per inch: portrait for
/// the unit pages, landscape for the index.
const A4_PORTRAIT_PX: u32 = (188.0 / 25.4 * 96.0) as u32;
const A4_LANDSCAPE_PX: u32 = (275.0 / 25.4 * 96.0) as u32;

#[tokio::test(flavor = "multi_thread")]
async fn every_page_fits_the_screen_from_800_to_1920_px_and_a4() {
    browser_installed();
    let tmp = tempfile::tempdir().unwrap();
    let export = CheckedExport::load(&root().join("fixtures/sample")).unwrap();
    let out: PathBuf = report(&export, week("2026-W47"), tmp.path(), "report").await;
    // The index, the organisation and a department with units under them (the widest unit
    // pages), and a department without.
    let pages = ["index.html", "U0001.html", "U0007.html", "U0005.html"];
    let mut failures = Vec::new();
    for page in pages {
        let path = out.join(page);
        assert!(path.exists(), "{page}");
        let a4 = if page == "index.html" { A4_LANDSCAPE_PX } else { A4_PORTRAIT_PX };
        for (width, print) in [(800, false), (1024, false), (1280, false), (1920, false), (a4, true)] {
            let m = measure(&path, width, print);
            let what = format!("{page} at {width} px{}", if print { " (print, A4)" } else { "" });
            if m["document"].as_u64() > m["window"].as_u64() {
                failures.push(format!("{what}: the document is {} px wide in {} px", m["document"], m["window"]));
            }
            for o in m["over"].as_array().unwrap() {
                failures.push(format!("{what}: {}", o.as_str().unwrap()));
            }
            if print {
                assert_eq!(m["thead"], "table-header-group", "{what}: table headers repeat on each printed page");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
