//! Reading a config: the TOML file, `--set key=value` overrides and the keys a grid axis or a
//! tuning sets, all written into the TOML table by one function ([`set_key`]), then typed
//! ([`typed`]) into the raw serde structs. Every error names the file (or the `--set`), the key
//! and the fix.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::de::DeserializeOwned;

use super::raw::RawConfig;
use crate::error::input_err;
use crate::input_bail;

/// A config file read from disk, with `--set` overrides applied.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it came from (named in every error).
    pub path: PathBuf,
    /// The merged TOML (file + overrides), before grid axes.
    pub table: toml::Table,
    /// The typed view of `table`.
    pub raw: RawConfig,
}

/// Sections a bare key (`n_embd=128`, a grid axis `learning_rate`) can belong to.
const SECTIONS: [&str; 3] = ["model", "train", "corpus"];

/// Reads `path`, applies `sets` (`key=value`, key dotted or bare), validates the schema.
pub fn load_config(path: &Path, sets: &[String]) -> Result<LoadedConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        input_err(format!("{}: cannot read config ({e}); fix: check the path", path.display()))
    })?;
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        input_err(format!("{}: malformed TOML: {}", path.display(), one_line(&e.to_string())))
    })?;
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            input_err(format!("--set {s}: expected key=value, e.g. --set train.learning_rate=1e-3"))
        })?;
        set_key(&mut table, k.trim(), parse_value(v.trim()), &format!("--set {s}"))?;
    }
    let raw = typed(&table, path)?;
    // Results go to <results_dir>/<name>: a name with a separator or `..` would write
    // outside it, an empty one straight into it.
    let n = raw.name.as_str();
    if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\']) {
        return Err(input_err(format!(
            "{}: name = {n:?} must be one folder name (no `/`, not empty, `.` or `..`): results go to \
             <results_dir>/<name>; fix: e.g. name = \"my-sweep\"",
            path.display()
        )));
    }
    Ok(LoadedConfig { path: path.to_path_buf(), table, raw })
}

/// Deserialises the merged table, naming the file on error.
pub fn typed(table: &toml::Table, path: &Path) -> Result<RawConfig> {
    typed_value(toml::Value::Table(table.clone()), path)
}

/// Deserialises one value as [`typed`] does the whole table, with the same error wording (a
/// grid's width read as an integer says what the whole config would have said).
pub fn typed_value<T: DeserializeOwned>(v: toml::Value, path: &Path) -> Result<T> {
    T::deserialize(v).map_err(|e| {
        input_err(format!(
            "{}: {}; fix: correct or remove that key (README, \"Config reference\")",
            path.display(),
            one_line(e.message())
        ))
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a CLI value as TOML (`1e-3`, `true`, `"x"`, `[1,2]`), else as a bare string.
pub fn parse_value(v: &str) -> toml::Value {
    format!("x = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

/// The table path `key` names: dotted like `train.seed` as written, `name` and `results_dir`
/// at the top, a bare key like `seed` in the one of [model], [train] and [corpus] that has it.
pub fn key_path(key: &str, origin: &str) -> Result<Vec<String>> {
    Ok(match key.split_once('.') {
        Some(_) => key.split('.').map(str::to_string).collect(),
        None if key == "name" || key == "results_dir" => vec![key.to_string()],
        None => {
            let owner = SECTIONS.iter().find(|s| section_fields(s).iter().any(|f| f == key));
            match owner {
                Some(s) => vec![s.to_string(), key.to_string()],
                None => input_bail!(
                    "{origin}: unknown key `{key}`; fix: use one of the [model], [train] or [corpus] keys \
                     (README, \"Config reference\"), or a dotted key like train.learning_rate"
                ),
            }
        }
    })
}

/// Sets `key` ([`key_path`]) in the table.
pub fn set_key(table: &mut toml::Table, key: &str, value: toml::Value, origin: &str) -> Result<()> {
    let path = key_path(key, origin)?;
    let mut cur = table;
    for p in &path[..path.len() - 1] {
        let entry = cur.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| input_err(format!("{origin}: `{p}` is not a table")))?;
    }
    cur.insert(path[path.len() - 1].clone(), value);
    Ok(())
}

/// Field names of a section, from its defaults.
fn section_fields(section: &str) -> Vec<String> {
    use super::raw::{RawCorpus, RawModel, RawTrain};
    let v = match section {
        "model" => toml::Value::try_from(RawModel::default()),
        "train" => toml::Value::try_from(RawTrain::default()),
        _ => toml::Value::try_from(RawCorpus::default()),
    };
    let mut keys: Vec<String> =
        v.ok().and_then(|v| v.as_table().map(|t| t.keys().cloned().collect())).unwrap_or_default();
    if section == "corpus" {
        keys.extend(["path".to_string(), "synthetic".to_string()]);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(s: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(&p, s).unwrap();
        (d, p)
    }

    #[test]
    fn unknown_key_is_named() {
        let (_d, p) = write("name = \"a\"\n[model]\nn_embed = 3\n");
        let e = load_config(&p, &[]).unwrap_err();
        assert!(crate::error::is_input_error(&e));
        assert!(e.to_string().contains("n_embed"), "{e}");
        assert!(e.to_string().contains("c.toml"), "{e}");
    }

    #[test]
    fn set_overrides_bare_and_dotted() {
        let (_d, p) = write("name = \"a\"\n");
        let c = load_config(&p, &["n_embd=96".into(), "train.learning_rate=1e-3".into()]).unwrap();
        assert_eq!(c.raw.model.n_embd, 96);
        assert_eq!(c.raw.train.learning_rate, 1e-3);
        assert!(load_config(&p, &["bogus=1".into()]).is_err());
    }

    #[test]
    fn name_is_one_folder_name() {
        for bad in ["", ".", "..", "../x", "a/b"] {
            let (_d, p) = write(&format!("name = {bad:?}\n"));
            let e = load_config(&p, &[]).expect_err(bad);
            assert!(crate::error::is_input_error(&e) && e.to_string().contains("one folder name"), "{e}");
        }
        let (_d, p) = write("name = \"ok-name_1.2\"\n");
        assert!(load_config(&p, &[]).is_ok());
    }

    /// One value typed alone reads as the whole table would have.
    #[test]
    fn typed_value_words_errors_as_typed() {
        let (_d, p) = write("name = \"a\"\n");
        let mut c = load_config(&p, &[]).unwrap();
        for v in [toml::Value::String("a".into()), toml::Value::Float(64.5), toml::Value::Boolean(true)] {
            set_key(&mut c.table, "n_embd", v.clone(), "test").unwrap();
            let whole = typed(&c.table, &p).unwrap_err().to_string();
            let one = typed_value::<i64>(v, &p).unwrap_err().to_string();
            assert_eq!(one, whole);
        }
    }
}
