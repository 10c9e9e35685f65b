//! Tests that need something outside the crate (Python's `tokenizers`, Chromium, the shared
//! corpora) skip when it is absent, but never silently: libtest captures `eprintln!` of a
//! passing test, so the note goes straight to the process's stderr ("SKIPPED name: why"), and
//! under `CI=true` a missing resource fails the test instead (CI installs all of them, so a
//! skip there would be a test that cannot fail).

use std::io::Write;

/// Reports that `test` skips because of `why` (with the fix); panics under `CI=true`.
pub fn skip(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}, and CI=true requires it to run");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
