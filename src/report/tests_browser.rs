//! report.html in a real browser: headless Chromium takes a screenshot, and the figure region
//! must show the series colours. Skipped with a note when Chromium is missing, except under
//! `CI=true`, where a missing browser fails the test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::figs::figure::PALETTE;
use super::synth::SynthSweep;
use super::tests::synthetic_report;

/// The Chromium binary on PATH, if any.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Screenshots `page` at 1280×2400 into `shot`, killing the browser after 120 s.
fn screenshot(browser: &str, page: &Path, shot: &Path, profile: &Path) {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium exited with {status}");
            return;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took over 120 s to screenshot {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn report_html_shows_the_figures_in_chromium() {
    let Some(browser) = chromium() else {
        crate::test_skip::skip(
            "report_html_shows_the_figures_in_chromium",
            "chromium not found (fix: apt-get install chromium)",
        );
        return;
    };
    let t = tempfile::tempdir().expect("tempdir");
    let (_, out, _) = synthetic_report(t.path(), &SynthSweep::thirty(), 3);
    let shot = t.path().join("shot.png");
    let profile = t.path().join("profile");
    screenshot(browser, &out.join("report.html").canonicalize().expect("path"), &shot, &profile);
    let decoder = png::Decoder::new(std::fs::File::open(&shot).expect("screenshot written"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let (w, h) = (info.width as usize, info.height as usize);
    assert!(w >= 1000 && h >= 2000, "screenshot {w}×{h}");
    // Figures start below the headline table: look at the lower two thirds of the page.
    let mut non_white = 0usize;
    let mut counts = vec![0usize; PALETTE.len()];
    let mut total = 0usize;
    for y in h / 3..h {
        for x in 0..w {
            let i = (y * w + x) * channels;
            let (r, g, b) = (buf[i], buf[i + 1], buf[i + 2]);
            total += 1;
            if r < 235 || g < 235 || b < 235 {
                non_white += 1;
            }
            let near = |c: u8, d: u8| (i16::from(c) - i16::from(d)).abs() <= 12;
            if let Some(k) = PALETTE.iter().position(|p| near(p.0, r) && near(p.1, g) && near(p.2, b)) {
                counts[k] += 1;
            }
        }
    }
    let frac = non_white as f64 / total as f64;
    let colours = counts.iter().filter(|c| **c >= 150).count();
    assert!(frac > 0.03, "figure region is {:.1}% non-white", 100.0 * frac);
    assert!(colours >= 4, "only {colours} series colours visible in the figure region: {counts:?}");
}
