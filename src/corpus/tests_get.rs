//! `corpus get` against a loopback HTTP server (no internet). The server and the recipe
//! writer also serve the command-line tests of `corpus get` (`src/cli/corpus.rs`).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::corpus::recipes::{find_recipe, get_corpus};
use crate::corpus::shards::sha256_hex;
use crate::corpus::tests::fixture_text;
use crate::error::is_input_error;

/// Serves `body` at `/corpus.txt` (404 elsewhere) on 127.0.0.1 for at most `max_requests`
/// connections or 20 seconds, whichever comes first; returns the base URL and the thread,
/// which yields the request paths it saw.
pub(crate) fn serve(body: Vec<u8>, max_requests: usize) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while seen.len() < max_requests && Instant::now() < deadline {
            let mut conn = match listener.accept() {
                Ok((c, _)) => c,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&req);
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, payload): (&str, &[u8]) =
                if path == "/corpus.txt" { ("200 OK", &body) } else { ("404 Not Found", b"no such file") };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\
                 Connection: close\r\n\r\n",
                payload.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(payload);
            seen.push(path);
        }
        seen
    });
    (base, handle)
}

pub(crate) fn recipe(dir: &Path, name: &str, url: &str, sha256: &str) {
    let text = format!(
        "name = \"{name}\"\ndescription = \"test fixture\"\nlicence = \"CC0\"\nurl = \"{url}\"\n\
         sha256 = \"{sha256}\"\nfile = \"corpus.txt\"\n\n[prepare]\ntokenizer = \"bpe\"\n\
         vocab_size = 300\nval_fraction = 0.2\ndoc_bytes = 300\n"
    );
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

#[test]
fn get_sha_mismatch_keeps_nothing() {
    let body = fixture_text(10).into_bytes();
    let actual = sha256_hex(&body);
    let (base, server) = serve(body, 1);
    let tmp = tempfile::tempdir().unwrap();
    let recipes = tmp.path().join("recipes");
    let wrong = "0".repeat(64);
    recipe(&recipes, "mini", &format!("{base}/corpus.txt"), &wrong);
    let out = tmp.path().join("out");
    let r = find_recipe("mini", Some(&recipes)).unwrap();
    let e = get_corpus(&r, &out).unwrap_err();
    server.join().unwrap();
    let msg = e.to_string();
    assert!(is_input_error(&e), "{msg}");
    assert!(msg.contains(&format!("expected {wrong}")), "{msg}");
    assert!(msg.contains(&format!("got {actual}")), "{msg}");
    assert!(msg.contains("recipe mini"), "{msg}");
    let left: Vec<_> = fs::read_dir(out.join("raw")).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!out.join("manifest.json").exists());
}

#[test]
fn get_http_404_and_unknown_names_are_input_errors() {
    let (base, server) = serve(Vec::new(), 1);
    let tmp = tempfile::tempdir().unwrap();
    let recipes = tmp.path().join("recipes");
    recipe(&recipes, "gone", &format!("{base}/nope.txt"), "");
    let r = find_recipe("gone", Some(&recipes)).unwrap();
    let e = get_corpus(&r, &tmp.path().join("out")).unwrap_err();
    server.join().unwrap();
    assert!(is_input_error(&e) && e.to_string().contains("HTTP status 404"), "{e}");
    assert!(!tmp.path().join("out/raw/corpus.txt").exists());

    let e = find_recipe("nope", Some(&recipes)).unwrap_err();
    assert!(is_input_error(&e));
    assert!(e.to_string().contains("known: gone, tinyshakespeare, tinystories"), "{e}");
    let e = find_recipe("x", Some(&tmp.path().join("no-such-dir"))).unwrap_err();
    assert!(is_input_error(&e) && e.to_string().contains("--recipes"), "{e}");
}
