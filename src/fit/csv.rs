//! `--csv FILE` input: a header line, then one row per run.
//!
//! Columns (case-insensitive, any order): `N` (parameters), `D` (training tokens) or `C`
//! (training FLOPs, then D = C/(6N)), `loss` (nats/token); optional `group` (fits each value
//! separately, like `--group-by`), `seed` (replicates share N, D), and `flops_budget`
//! (IsoFLOP budget, FLOPs). Other columns are ignored. Fields are split on commas; surrounding
//! double quotes are stripped. Every value must be a positive finite number.

use std::path::Path;

use anyhow::{Context, Result};

use super::data::RunPoint;
use crate::error::input_err;

const FIX_HEADER: &str = "fix: the first line must be a header such as `N,D,loss` (or `N,C,loss`), \
optionally with `group` and `seed` columns";

fn unquote(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(t)
}

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
    parse_csv(&text, &path.display().to_string())
}

/// Parses CSV text; `name` is used in messages (`name:line: ...`).
pub fn parse_csv(text: &str, name: &str) -> Result<Vec<RunPoint>> {
    let mut lines =
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        return Err(input_err(format!("{name}: empty file (no header, no rows); {FIX_HEADER}")));
    };
    let cols: Vec<String> = header.split(',').map(|c| unquote(c).to_ascii_lowercase()).collect();
    let find = |k: &str| cols.iter().position(|c| c == k);
    let need = |k: &str| {
        find(k).ok_or_else(|| {
            input_err(format!(
                "{name}:{}: missing column `{k}` (header has: {}); {FIX_HEADER}",
                hline + 1,
                cols.join(", ")
            ))
        })
    };
    let n_col = need("n")?;
    let loss_col = need("loss")?;
    let (d_col, c_col) = (find("d"), find("c"));
    if d_col.is_none() && c_col.is_none() {
        return Err(input_err(format!(
            "{name}:{}: missing column `D` (tokens) or `C` (FLOPs) (header has: {}); {FIX_HEADER}",
            hline + 1,
            cols.join(", ")
        )));
    }
    let group_col = find("group");
    let seed_col = find("seed");
    let budget_col = find("flops_budget");
    let mut out = Vec::new();
    for (i, line) in lines {
        let lineno = i + 1;
        let fields: Vec<&str> = line.split(',').map(unquote).collect();
        if fields.len() != cols.len() {
            return Err(input_err(format!(
                "{name}:{lineno}: {} fields but the header has {}; fix: give every row the header's columns",
                fields.len(),
                cols.len()
            )));
        }
        let num = |col: usize| -> Result<f64> {
            let raw = fields[col];
            let v: f64 = raw.parse().map_err(|_| {
                input_err(format!(
                    "{name}:{lineno}: column `{}` = `{raw}` is not a number; fix: write a plain number such as 1.5e7",
                    cols[col]
                ))
            })?;
            if !v.is_finite() || v <= 0.0 {
                return Err(input_err(format!(
                    "{name}:{lineno}: column `{}` = `{raw}` must be a positive finite number; fix: correct or remove the row",
                    cols[col]
                )));
            }
            Ok(v)
        };
        let n = num(n_col)?;
        let loss = num(loss_col)?;
        let (d, c) = match (d_col, c_col) {
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
        let text_of = |col: Option<usize>| col.map(|c| fields[c].to_string()).filter(|s| !s.is_empty());
        let flops_budget = match budget_col {
            Some(b) if !fields[b].is_empty() => Some(num(b)?),
            _ => None,
        };
        out.push(RunPoint {
            id: format!("{name}:{lineno}"),
            n,
            d,
            c,
            loss,
            seed: text_of(seed_col),
            group: text_of(group_col),
            flops_budget,
            schedule: None,
        });
    }
    if out.is_empty() {
        return Err(input_err(format!("{name}: header but no data rows; fix: add one row per run")));
    }
    Ok(out)
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

    #[test]
    fn missing_file_is_an_input_error() {
        let e = read_csv(Path::new("/nonexistent/x.csv")).expect_err("missing");
        assert!(is_input_error(&e));
    }
}
