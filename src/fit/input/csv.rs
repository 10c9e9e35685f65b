//! `--csv FILE` input: a header line, then one row per run, read with the `csv` crate, so
//! quoted fields (commas and doubled quotes inside), CRLF line ends, a UTF-8 byte-order mark (as
//! Excel writes) and `#` comment lines all work (issue #18).
//!
//! Columns (case-insensitive, any order, each under one of its names):
//!
//! | meaning | names |
//! |---|---|
//! | N, parameters | `N`, `params`, `parameters`, `params_total`, `n_params` |
//! | D, training tokens | `D`, `tokens`, `n_tokens` |
//! | C, training FLOPs (then D = C/(6N) if there is no D) | `C`, `flops`, `flops_6nd`, `compute` |
//! | loss, nats/token | `loss`, `final_loss`, `final_val_loss`, `val_loss` |
//! | replicates of one (N, D) | `seed` |
//! | fit each value separately (like `--group-by`) | `group` |
//! | IsoFLOP budget, FLOPs | `flops_budget` |
//! | `ok` rows only, others skipped (scalinglab's `runs.csv`) | `status` |
//! | rows that are checkpoints of one training run (Approach 1's curves) | `run`, `run_name` |
//! | unique training tokens U (D/U epochs; the data-constrained law) | `U`, `unique_tokens` |
//!
//! So scalinglab's own `results/NAME/runs.csv` is read as it is. Two columns of one meaning are
//! an error (which one would be meant?); other columns are ignored and listed on stderr. Every
//! value must be a positive finite number.

use std::path::Path;

use anyhow::{Context, Result};

use super::data::RunPoint;
use crate::error::input_err;

const FIX_HEADER: &str = "fix: the first line must be a header such as `N,D,loss` (or `N,C,loss`), \
optionally with `group` and `seed` columns";

/// Each meaning and the header names it goes by (lower case).
const ALIASES: [(&str, &[&str]); 10] = [
    ("n", &["n", "params", "parameters", "params_total", "n_params"]),
    ("d", &["d", "tokens", "n_tokens"]),
    ("c", &["c", "flops", "flops_6nd", "compute"]),
    ("loss", &["loss", "final_loss", "final_val_loss", "val_loss"]),
    ("seed", &["seed"]),
    ("group", &["group"]),
    ("flops_budget", &["flops_budget"]),
    ("status", &["status"]),
    ("run", &["run", "run_name"]),
    ("unique", &["u", "unique_tokens"]),
];

/// Reads `path` into points; every problem is an input error naming file, line and column.
pub fn read_csv(path: &Path) -> Result<Vec<RunPoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(input_err(format!(
                "{}: no such file; fix: pass an existing CSV to --csv",
                path.display()
            )))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let (points, notes) = parse_csv_noted(&text, &path.display().to_string())?;
    for n in notes {
        eprintln!("{n}");
    }
    Ok(points)
}

/// Parses CSV text; `name` is used in messages (`name:line: ...`).
pub fn parse_csv(text: &str, name: &str) -> Result<Vec<RunPoint>> {
    parse_csv_noted(text, name).map(|(p, _)| p)
}

/// Where each meaning is in a file's header (module docs), with the header as read.
struct Header<'a> {
    /// The file's name for messages.
    name: &'a str,
    /// The column names in lower case.
    cols: Vec<String>,
    /// Column index of each meaning present.
    at: std::collections::BTreeMap<&'static str, usize>,
    /// Column of N, of the loss, of D and of C (at least one of the last two).
    n: usize,
    loss: usize,
    d: Option<usize>,
    c: Option<usize>,
}

impl<'a> Header<'a> {
    /// Reads the header record: each column under its meaning ([`ALIASES`]), with the names of
    /// the ignored ones; input error for two columns of one meaning or a missing N, loss, or D
    /// and C.
    fn read(name: &'a str, header: &csv::StringRecord) -> Result<(Header<'a>, Vec<String>)> {
        let hline = header.position().map_or(1, |p| p.line());
        let cols: Vec<String> = header.iter().map(str::to_ascii_lowercase).collect();
        // Which column holds each meaning; two of one meaning is an error.
        let mut at: std::collections::BTreeMap<&'static str, usize> = Default::default();
        let mut ignored = Vec::new();
        for (i, c) in cols.iter().enumerate() {
            match ALIASES.iter().find(|(_, names)| names.contains(&c.as_str())) {
                Some((key, _)) => {
                    if let Some(&j) = at.get(key) {
                        return Err(input_err(format!(
                            "{name}:{hline}: columns `{}` and `{}` both give {key}; fix: keep one of them",
                            header.get(j).unwrap_or(""),
                            header.get(i).unwrap_or("")
                        )));
                    }
                    at.insert(key, i);
                }
                None => ignored.push(header.get(i).unwrap_or("").to_string()),
            }
        }
        let need = |k: &str, what: &str| {
            at.get(k).copied().ok_or_else(|| {
                input_err(format!(
                    "{name}:{hline}: missing column `{what}` (header has: {}); {FIX_HEADER}",
                    cols.join(", ")
                ))
            })
        };
        let n = need("n", "N")?;
        let loss = need("loss", "loss")?;
        let (d, c) = (at.get("d").copied(), at.get("c").copied());
        if d.is_none() && c.is_none() {
            return Err(input_err(format!(
                "{name}:{hline}: missing column `D` (tokens) or `C` (FLOPs) (header has: {}); {FIX_HEADER}",
                cols.join(", ")
            )));
        }
        Ok((Header { name, cols, at, n, loss, d, c }, ignored))
    }

    /// One data record as a point; `None` for a row whose `status` is not `ok`. Every problem
    /// is an input error naming the line and column.
    fn point(&self, rec: &csv::StringRecord) -> Result<Option<RunPoint>> {
        let name = self.name;
        let lineno = rec.position().map_or(0, |p| p.line());
        if rec.len() != self.cols.len() {
            return Err(input_err(format!(
                "{name}:{lineno}: {} fields but the header has {}; fix: give every row the header's columns",
                rec.len(),
                self.cols.len()
            )));
        }
        let field = |c: usize| rec.get(c).unwrap_or("");
        if let Some(st) = self.at.get("status").map(|&c| field(c)) {
            if !st.eq_ignore_ascii_case("ok") {
                return Ok(None);
            }
        }
        let num = |col: usize| -> Result<f64> {
            let raw = field(col);
            let v: f64 = raw.parse().map_err(|_| {
                input_err(format!(
                    "{name}:{lineno}: column `{}` = `{raw}` is not a number; fix: write a plain number such as 1.5e7",
                    self.cols[col]
                ))
            })?;
            if !v.is_finite() || v <= 0.0 {
                return Err(input_err(format!(
                    "{name}:{lineno}: column `{}` = `{raw}` must be a positive finite number; fix: correct or remove the row",
                    self.cols[col]
                )));
            }
            Ok(v)
        };
        let n = num(self.n)?;
        let loss = num(self.loss)?;
        let (d, c) = match (self.d, self.c) {
            (Some(dc), Some(cc)) => (num(dc)?, num(cc)?),
            (Some(dc), None) => {
                let d = num(dc)?;
                (d, 6.0 * n * d)
            }
            (None, Some(cc)) => {
                let c = num(cc)?;
                (c / (6.0 * n), c)
            }
            (None, None) => {
                return Err(input_err(format!("{name}:{lineno}: no `D` or `C` column; {FIX_HEADER}")));
            }
        };
        let text_of = |k: &str| self.at.get(k).map(|&c| field(c).to_string()).filter(|s| !s.is_empty());
        let optional = |k: &str| match self.at.get(k) {
            Some(&b) if !field(b).is_empty() => num(b).map(Some),
            _ => Ok(None),
        };
        Ok(Some(RunPoint {
            id: format!("{name}:{lineno}"),
            n,
            d,
            c,
            loss,
            seed: text_of("seed"),
            group: text_of("group"),
            flops_budget: optional("flops_budget")?,
            schedule: None,
            run: text_of("run"),
            unique_tokens: optional("unique")?,
        }))
    }
}

/// [`parse_csv`], with the notes for stderr (ignored columns, skipped rows).
pub fn parse_csv_noted(text: &str, name: &str) -> Result<(Vec<RunPoint>, Vec<String>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let bad =
        |line: u64, e: csv::Error| input_err(format!("{name}:{line}: not valid CSV ({e}); {FIX_HEADER}"));
    let mut records = rdr.records().filter(|r| !matches!(r, Ok(r) if r.iter().all(str::is_empty)));
    let header = match records.next() {
        None => return Err(input_err(format!("{name}: empty file (no header, no rows); {FIX_HEADER}"))),
        Some(Err(e)) => return Err(bad(e.position().map_or(1, |p| p.line()), e)),
        Some(Ok(h)) => h,
    };
    let (layout, ignored) = Header::read(name, &header)?;
    let mut notes = Vec::new();
    if !ignored.is_empty() {
        notes.push(format!("{name}: ignoring {} column(s): {}", ignored.len(), ignored.join(", ")));
    }
    let mut skipped = 0;
    let mut out = Vec::new();
    for rec in records {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, e)
        })?;
        match layout.point(&rec)? {
            Some(p) => out.push(p),
            None => skipped += 1,
        }
    }
    if skipped > 0 {
        notes.push(format!("{name}: skipped {skipped} row(s) whose status is not `ok`"));
    }
    if out.is_empty() {
        return Err(input_err(format!("{name}: header but no data rows; fix: add one row per run")));
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::is_input_error;

    fn err(text: &str) -> String {
        let e = parse_csv(text, "f.csv").expect_err("should fail");
        assert!(is_input_error(&e), "not an input error: {e}");
        e.to_string()
    }

    #[test]
    fn parses_nd_and_nc_forms() {
        let p = parse_csv("N,D,loss,seed\n1e6,2e8,3.1,1\n", "f.csv").expect("valid");
        assert_eq!((p[0].n, p[0].d, p[0].c, p[0].loss), (1e6, 2e8, 1.2e15, 3.1));
        assert_eq!(p[0].seed.as_deref(), Some("1"));
        assert_eq!(p[0].id, "f.csv:2");
        let q = parse_csv("loss,C,N,group\n3.1,1.2e15,1e6,x\n", "f.csv").expect("valid");
        assert!((q[0].d - 2e8).abs() < 1e-3);
        assert_eq!(q[0].group.as_deref(), Some("x"));
    }

    #[test]
    fn bad_inputs_name_line_and_column() {
        assert!(err("").contains("empty file"));
        assert!(err("N,D,loss\n").contains("no data rows"));
        assert!(err("N,D\n1,2\n").contains("missing column `loss`"));
        assert!(err("N,loss\n1,2\n").contains("missing column `D`"));
        let m = err("N,D,loss\n1e6,1e8,3\n1e6,1e8,NaN\n");
        assert!(m.contains("f.csv:3") && m.contains("`loss`") && m.contains("positive finite"), "{m}");
        assert!(err("N,D,loss\n0,1e8,3\n").contains("column `n` = `0`"));
        assert!(err("N,D,loss\n1e6,-1e8,3\n").contains("column `d` = `-1e8`"));
        assert!(err("N,D,loss\n1e6,abc,3\n").contains("is not a number"));
        assert!(err("N,D,loss\n1e6,1e8\n").contains("2 fields but the header has 3"));
    }

    fn key(p: &RunPoint) -> (u64, u64, u64, Option<String>) {
        (p.n.to_bits(), p.d.to_bits(), p.loss.to_bits(), p.seed.clone())
    }

    /// Issue #18: what pandas (quoting, a BOM from `encoding="utf-8-sig"`) and Excel (CRLF)
    /// write reads as the plain file of the same points.
    #[test]
    fn quoted_bom_and_crlf_files_read_as_the_plain_one() {
        let plain = parse_csv("N,D,loss,seed\n1e6,2e8,3.1,0\n2e6,2e8,2.9,1\n", "p.csv").expect("plain");
        let pandas = "\u{feff}\"note\",N,D,loss,seed\n\"run a, first\",1e6,2e8,3.1,0\n\"say \"\"hi\"\"\",2e6,2e8,2.9,1\n";
        let excel = "N,D,loss,seed\r\n1e6,2e8,3.1,0\r\n2e6,2e8,2.9,1\r\n";
        let aliased = "# a comment\nparameters,tokens,final_val_loss,seed\n1e6,2e8,3.1,0\n\n2e6,2e8,2.9,1\n";
        for (name, text) in [("pandas", pandas), ("excel", excel), ("aliases", aliased)] {
            let (got, notes) = parse_csv_noted(text, name).expect(name);
            assert_eq!(
                got.iter().map(key).collect::<Vec<_>>(),
                plain.iter().map(key).collect::<Vec<_>>(),
                "{name}"
            );
            if name == "pandas" {
                assert_eq!(notes, vec!["pandas: ignoring 1 column(s): note".to_string()]);
            }
        }
        let m = err("N,params,D,loss\n1,1,2,3\n");
        assert!(m.contains("columns `N` and `params` both give n") && m.contains("fix:"), "{m}");
    }

    /// Issue #18: scalinglab's own runs.csv is read directly, `ok` rows only, with the same
    /// points (N total, D, final loss, seed) as the results folder it was written from.
    #[test]
    fn scalinglab_runs_csv_is_read_as_it_is() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/quick");
        let (got, notes) =
            parse_csv_noted(&std::fs::read_to_string(dir.join("runs.csv")).expect("runs.csv"), "runs.csv")
                .expect("parses");
        assert!(notes.iter().any(|n| n.contains("ignoring")), "{notes:?}");
        let store = crate::results::ResultsDir::new(&dir);
        let mut want: Vec<_> = store
            .load_runs()
            .expect("runs")
            .iter()
            .filter(|r| r.status == crate::results::RunStatus::Ok)
            .map(|r| {
                let seed = r.spec.get("seed").map(|v| v.to_string());
                (
                    (r.params_total as f64).to_bits(),
                    (r.tokens as f64).to_bits(),
                    r.final_val_loss.expect("loss").to_bits(),
                    seed,
                )
            })
            .collect();
        let mut got: Vec<_> = got.iter().map(key).collect();
        want.sort();
        got.sort();
        assert_eq!(got.len(), 50);
        assert_eq!(got, want);
    }

    #[test]
    fn missing_file_is_an_input_error() {
        let e = read_csv(Path::new("/nonexistent/x.csv")).expect_err("missing");
        assert!(is_input_error(&e));
    }
}
