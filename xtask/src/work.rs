//! A student's own copy of a step, `my-stepN/`: the place to do that step's exercises without
//! touching the course's folders (each lesson's diff compares those folders, so an exercise
//! done in `step2-login/` would show up in lesson 3's diff).
//!
//! The copy is a crate of its own, renamed `my-stepN` in both spellings (`my-step2` for
//! Cargo, `my_step2` in Rust paths), and a workspace of its own: the steps' manifests inherit
//! their versions and lints from the course's root `Cargo.toml` (`axum.workspace = true`), so
//! the copy's manifest carries those tables itself. With the course's `Cargo.lock` and the
//! course's `target/` folder it builds with the very same dependencies the course already
//! compiled: only the copy's own code is compiled again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::diff::rename_crate;

/// The first line of what `work` appends to a step's manifest. Everything from it on is the
/// course's, not the step's: `exercises --write-solution` cuts the manifest there.
pub const MANIFEST_MARKER: &str = "# ---- Added by `cargo xtask work`: the course's workspace settings, copied from its Cargo.toml.";

/// Files and folders never copied: build output and the databases `cargo run` makes.
pub fn is_skipped(file_name: &str) -> bool {
    file_name == "target"
        || [".db", ".db-shm", ".db-wal"]
            .iter()
            .any(|end| file_name.ends_with(end))
}

/// Copies the step folder `from` to `to` (which must not exist) as the package `new_name`.
/// `target_dir` is where its builds go, relative to `to`: the course's `target/`.
pub fn make_copy(
    root: &Path,
    from: &Path,
    old_name: &str,
    to: &Path,
    new_name: &str,
    target_dir: &str,
) -> Result<(), String> {
    copy_renamed(from, to, old_name, new_name)?;

    let root_manifest = read(&root.join("Cargo.toml"))?;
    let step_manifest = read(&from.join("Cargo.toml"))?;
    let used = packages_used_by(&read(&root.join("Cargo.lock"))?, old_name);
    // The root's `[workspace.dependencies]` name the course's own crates by relative paths
    // too (`test-kit = { path = "test-kit" }`, the tests' helpers): absolute in the copy.
    let manifest = standalone_manifest(
        &absolute_paths(&rename_crate(&step_manifest, old_name, new_name), from),
        &absolute_paths(&root_manifest, root),
        &used,
    );
    write(&to.join("Cargo.toml"), &manifest)?;
    // The same versions as the course: the dependencies already in `target/` fit.
    fs::copy(root.join("Cargo.lock"), to.join("Cargo.lock"))
        .map_err(|e| format!("copying Cargo.lock to {}: {e}", to.display()))?;

    let cargo_dir = to.join(".cargo");
    fs::create_dir_all(&cargo_dir).map_err(|e| format!("{}: {e}", cargo_dir.display()))?;
    write(&cargo_dir.join("config.toml"), &cargo_config(target_dir))?;
    Ok(())
}

/// An add-on's manifest names step 5 by a path relative to its folder
/// (`step5-hardened = { path = "../../step5-hardened" }`), which from the copy's folder
/// would point elsewhere: each relative `path = "..."` becomes the absolute path of what it
/// named in `from`, with forward slashes (a backslash would be an escape in TOML).
pub fn absolute_paths(manifest: &str, from: &Path) -> String {
    let mut out = String::new();
    for line in manifest.lines() {
        let relative = line
            .split_once("path = \"")
            .and_then(|(before, rest)| Some((before, rest.split_once('"')?)))
            .filter(|(_, (path, _))| Path::new(path).is_relative());
        match relative {
            Some((before, (path, after))) => {
                let absolute = std::path::absolute(from.join(path)).unwrap_or(from.join(path));
                let absolute = absolute.to_string_lossy().replace('\\', "/");
                out.push_str(&format!("{before}path = \"{absolute}\"{after}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The published manifest's own `path = "..."` lines back in a copy's manifest, undoing
/// [`absolute_paths`]: each line with a path takes the published line with the same key.
pub fn published_paths(copy_manifest: &str, published_manifest: &str) -> String {
    let key = |line: &str| {
        line.split_once("path = \"")
            .map(|(before, _)| before.to_string())
    };
    let mut out = String::new();
    for line in copy_manifest.lines() {
        let published = key(line).and_then(|wanted| {
            published_manifest
                .lines()
                .find(|candidate| key(candidate).as_deref() == Some(wanted.as_str()))
        });
        out.push_str(published.unwrap_or(line));
        out.push('\n');
    }
    out
}

/// `.cargo/config.toml` of a copy: build into the course's `target/` and keep `cargo xtask`
/// working from inside the copy.
fn cargo_config(target_dir: &str) -> String {
    let xtask = Path::new(target_dir)
        .parent()
        .unwrap_or(Path::new(""))
        .join("xtask")
        .join("Cargo.toml");
    let xtask = xtask.to_string_lossy().replace('\\', "/");
    format!(
        "# Made by `cargo xtask work`. Builds go to the course's target/ folder, so this copy\n\
         # reuses every dependency the course has already compiled.\n\
         [build]\n\
         target-dir = \"{target_dir}\"\n\
         \n\
         # `cargo xtask check N.K` and the other course tools work from here too.\n\
         [alias]\n\
         xtask = \"run --quiet --manifest-path {xtask} --\"\n"
    )
}

/// The step's manifest (already renamed) made into a workspace root of its own: the root
/// manifest's `[workspace.*]` and `[profile.*]` tables are appended as text, under a
/// `[workspace]` table without members (the package is its only member). A profile table
/// for one package (`[profile.dev.package.argon2]`) is left out unless the step `uses` that
/// package: Cargo warns about such tables on every command otherwise.
pub fn standalone_manifest(
    step_manifest: &str,
    root_manifest: &str,
    uses: &BTreeSet<String>,
) -> String {
    let mut out = step_manifest.trim_end().to_string();
    out.push_str("\n\n");
    out.push_str(MANIFEST_MARKER);
    out.push_str(
        "\n# They make this folder a workspace of its own, so `cargo run` and `cargo test` work\n\
         # here with the course's versions, lints and build settings.\n\
         [workspace]\n\
         resolver = \"3\"\n",
    );
    for (header, text) in toml_tables(root_manifest) {
        let name = header.trim_start_matches('[').trim_end_matches(']');
        let package = name
            .split_once(".package.")
            .map(|(_, package)| package.trim_matches('"'));
        if package.is_some_and(|package| package != "*" && !uses.contains(package)) {
            continue;
        }
        if name.starts_with("workspace.") || name.starts_with("profile.") {
            out.push('\n');
            out.push_str(text.trim_end());
            out.push('\n');
        }
    }
    out
}

/// Every package `package` depends on, directly or not (dev-dependencies too), by name,
/// from the workspace's `Cargo.lock`, where each `[[package]]` lists its dependencies as
/// `"name"` or `"name version"`.
pub fn packages_used_by(lock: &str, package: &str) -> BTreeSet<String> {
    let mut dependencies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_list = false;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            current = None;
            in_list = false;
        } else if let Some(name) = line.strip_prefix("name = ") {
            current = Some(name.trim_matches('"').to_string());
        } else if line == "dependencies = [" {
            in_list = true;
        } else if in_list && line == "]" {
            in_list = false;
        } else if in_list && let Some(name) = &current {
            let dependency = line.trim_matches([' ', ',', '"']);
            let dependency = dependency.split(' ').next().unwrap_or_default();
            dependencies
                .entry(name.clone())
                .or_default()
                .push(dependency.to_string());
        }
    }
    let mut used = BTreeSet::new();
    let mut pending = vec![package.to_string()];
    while let Some(name) = pending.pop() {
        for dependency in dependencies.get(&name).into_iter().flatten() {
            if used.insert(dependency.clone()) {
                pending.push(dependency.clone());
            }
        }
    }
    used
}

/// The step's own manifest back from a copy's: the renamed step manifest, without what
/// [`standalone_manifest`] appended.
pub fn step_manifest_of(copy_manifest: &str) -> &str {
    match copy_manifest.find(MANIFEST_MARKER) {
        Some(at) => &copy_manifest[..at],
        None => copy_manifest,
    }
}

/// A TOML file cut into its tables, each as (header line, text): the text runs from the
/// comments just above the header to the comments above the next one, so a table keeps the
/// comment that explains it. Text before the first header is left out.
fn toml_tables(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| is_table_header(lines[i]))
        .collect();
    // Each table starts at the comment block right above its header.
    let starts: Vec<usize> = headers
        .iter()
        .map(|&h| {
            let mut start = h;
            while start > 0 && lines[start - 1].trim_start().starts_with('#') {
                start -= 1;
            }
            start
        })
        .collect();
    let mut tables = Vec::new();
    for (i, (&header, &start)) in headers.iter().zip(&starts).enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(lines.len());
        let mut body = lines[start..end].join("\n");
        body.push('\n');
        tables.push((lines[header].trim().to_string(), body));
    }
    tables
}

/// `[name]` or `[a.b."c"]` on a line of its own (arrays of tables, `[[bin]]`, too).
fn is_table_header(line: &str) -> bool {
    let line = line.split('#').next().unwrap_or_default().trim();
    line.starts_with('[')
        && line.ends_with(']')
        && line
            .trim_start_matches('[')
            .starts_with(|c: char| c.is_ascii_alphabetic() || c == '"')
}

/// Copies `from` into `to` without build output and databases, with the crate renamed in
/// every text file.
fn copy_renamed(from: &Path, to: &Path, old_name: &str, new_name: &str) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let name = entry.file_name();
        if is_skipped(&name.to_string_lossy()) {
            continue;
        }
        let (source, dest) = (entry.path(), to.join(&name));
        if source.is_dir() {
            copy_renamed(&source, &dest, old_name, new_name)?;
            continue;
        }
        let bytes = fs::read(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let bytes = match std::str::from_utf8(&bytes) {
            Ok(text) if !text.contains('\0') => rename_crate(text, old_name, new_name).into_bytes(),
            _ => bytes,
        };
        fs::write(&dest, bytes).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    Ok(())
}

/// `my-stepN.old`, where `work N --fresh` moves the previous copy.
pub fn old_copy_path(copy: &Path) -> PathBuf {
    let mut name = copy.file_name().unwrap_or_default().to_os_string();
    name.push(".old");
    copy.with_file_name(name)
}

pub fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_add_on_s_path_to_step_5_resolves_from_the_copy_and_comes_back_unchanged() {
        let manifest = "[dependencies]\nstep5-hardened = { path = \"../../step5-hardened\" }\naxum.workspace = true\n";
        let from = std::env::temp_dir()
            .join("course")
            .join("appendix")
            .join("demo");

        let copied = absolute_paths(manifest, &from);

        let path = copied
            .split_once("path = \"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(path, _)| path)
            .expect("a path");
        assert!(Path::new(path).is_absolute(), "{copied}");
        assert!(!path.contains('\\'), "forward slashes only: {copied}");
        assert!(path.ends_with("step5-hardened"), "{copied}");
        assert!(copied.contains("axum.workspace = true"), "{copied}");
        assert_eq!(published_paths(&copied, manifest), manifest);
    }

    use super::*;

    const ROOT: &str = "\
[workspace]
resolver = \"3\"
members = [
    \"step1-basic\",
]

[workspace.package]
edition = \"2024\"

# One place for versions.
[workspace.dependencies]
axum = \"0.8\"
tokio = { version = \"1\", features = [\"macros\"] }

[workspace.lints.clippy]
unwrap_used = \"warn\"

# Slow hashing, made fast.
[profile.dev.package.argon2]
opt-level = 3
";

    const STEP: &str = "\
[package]
name = \"my-step1\"
edition.workspace = true

[dependencies]
axum.workspace = true

[lints]
workspace = true
";

    #[test]
    fn the_copy_manifest_is_the_step_s_plus_the_workspace_tables_without_members() {
        let uses = BTreeSet::from(["argon2".to_string()]);
        let manifest = standalone_manifest(STEP, ROOT, &uses);

        assert!(manifest.starts_with(STEP.trim_end()), "{manifest}");
        assert!(manifest.contains("\n[workspace]\nresolver = \"3\"\n"));
        assert!(!manifest.contains("members"), "{manifest}");
        for table in [
            "[workspace.package]\nedition = \"2024\"",
            "# One place for versions.\n[workspace.dependencies]\naxum = \"0.8\"\ntokio = { version = \"1\", features = [\"macros\"] }",
            "[workspace.lints.clippy]\nunwrap_used = \"warn\"",
            "# Slow hashing, made fast.\n[profile.dev.package.argon2]\nopt-level = 3",
        ] {
            assert!(
                manifest.contains(table),
                "{table} is missing from\n{manifest}"
            );
        }
        assert_eq!(
            manifest.matches("[workspace]").count(),
            1,
            "one workspace table"
        );
    }

    #[test]
    fn the_step_manifest_comes_back_from_the_copy_s() {
        let manifest = standalone_manifest(STEP, ROOT, &BTreeSet::new());
        assert_eq!(step_manifest_of(&manifest).trim_end(), STEP.trim_end());
        assert_eq!(step_manifest_of(STEP), STEP);
    }

    #[test]
    fn a_profile_for_a_package_the_step_does_not_use_is_left_out() {
        let manifest = standalone_manifest(STEP, ROOT, &BTreeSet::new());
        assert!(!manifest.contains("argon2"), "{manifest}");
        assert!(!manifest.contains("Slow hashing"), "its comment goes too");
        assert!(manifest.contains("[workspace.lints.clippy]"));
    }

    #[test]
    fn the_packages_a_step_uses_are_found_through_the_lock_file() {
        let lock = "\
version = 4

[[package]]
name = \"argon2\"
version = \"0.5.3\"
dependencies = [
 \"blake2\",
]

[[package]]
name = \"blake2\"
version = \"0.10.6\"

[[package]]
name = \"step1-basic\"
version = \"0.1.0\"
dependencies = [
 \"axum\",
 \"rand 0.8.5\",
]

[[package]]
name = \"step5-hardened\"
version = \"0.1.0\"
dependencies = [
 \"argon2\",
]

[[package]]
name = \"axum\"
version = \"0.8.0\"
dependencies = [
 \"tokio\",
]
";
        let names = |set: BTreeSet<String>| set.into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(packages_used_by(lock, "step1-basic")),
            ["axum", "rand", "tokio"]
        );
        assert_eq!(
            names(packages_used_by(lock, "step5-hardened")),
            ["argon2", "blake2"]
        );
    }

    #[test]
    fn table_headers_are_not_arrays_or_values() {
        assert!(is_table_header("[workspace]"));
        assert!(is_table_header("[profile.dev.package.\"*\"]"));
        assert!(is_table_header("[[bin]]"));
        assert!(is_table_header("[lints] # comment"));
        assert!(!is_table_header("members = ["));
        assert!(!is_table_header("]"));
        assert!(!is_table_header("    \"step1-basic\","));
    }

    #[test]
    fn the_copy_builds_into_the_course_target_and_finds_the_tools() {
        let config = cargo_config("../target");
        assert!(config.contains("target-dir = \"../target\""), "{config}");
        assert!(
            config.contains("--manifest-path ../xtask/Cargo.toml --"),
            "{config}"
        );
        let config = cargo_config("../../../target");
        assert!(
            config.contains("--manifest-path ../../../xtask/Cargo.toml --"),
            "{config}"
        );
    }

    #[test]
    fn build_output_and_databases_are_not_copied_but_the_page_is() {
        for name in ["target", "sessions.db", "sessions.db-wal", "x.db-shm"] {
            assert!(is_skipped(name), "{name}");
        }
        for name in ["README.md", "src", "Cargo.toml", "db.rs"] {
            assert!(!is_skipped(name), "{name}");
        }
    }
}
