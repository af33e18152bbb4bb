//! One lesson's diff: the files of the previous folder against the lesson's folder, with
//! the noise hidden. Each folder is a full copy of the previous one plus its lesson, so a
//! plain `diff -ru` between them works too, but it also shows:
//!
//! - lines that differ only because each folder is its own crate (`step2_login::app` vs
//!   `step3_logout::app`, the package name): the previous folder's crate name is replaced
//!   by the lesson's before comparing, in both spellings, so every line left is a real one;
//! - the lesson pages (README.md) and files no lesson writes (SQLite databases made by
//!   `cargo run`, build output): those are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use similar::{ChangeTag, TextDiff};

use crate::lessons::Lesson;

/// What a lesson never changes on purpose: its page, and files made by running or building.
pub fn is_excluded(file_name: &str) -> bool {
    file_name == "README.md"
        || file_name == "target"
        || [".db", ".db-shm", ".db-wal", ".db.lock"]
            .iter()
            .any(|end| file_name.ends_with(end))
}

/// The previous crate's name replaced by this one's, as `step2-login` (package and binary
/// name) and as `step2_login` (Rust paths).
pub fn rename_crate(text: &str, old: &str, new: &str) -> String {
    text.replace(old, new)
        .replace(&old.replace('-', "_"), &new.replace('-', "_"))
}

/// Lines removed and added to turn `old` into `new`.
pub fn count_changes(old: &str, new: &str) -> (usize, usize) {
    let diff = TextDiff::from_lines(old, new);
    let mut counts = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Delete => counts.0 += 1,
            ChangeTag::Insert => counts.1 += 1,
            ChangeTag::Equal => {}
        }
    }
    counts
}

/// A file the lesson changes, by its path in the folder (`src/routes/auth.rs`).
pub struct FileChange {
    pub path: String,
    pub content: Content,
}

pub enum Content {
    /// The file's text before and after; a file that does not exist on one side is empty there.
    Text { old: String, new: String },
    /// A file that is not UTF-8 text: only that it changed is shown.
    Binary,
}

/// The files `lesson` changes, sorted by path as `diff -r` would list them.
pub fn changes(root: &Path, lesson: &Lesson) -> Result<Vec<FileChange>, String> {
    let new_files = files(&root.join(&lesson.folder.path))?;
    let old_files = match &lesson.previous {
        Some(previous) => files(&root.join(&previous.path))?,
        None => BTreeMap::new(),
    };
    let paths: BTreeSet<&Vec<String>> = old_files.keys().chain(new_files.keys()).collect();

    let mut changes = Vec::new();
    for path in paths {
        let old = read(old_files.get(path))?;
        let new = read(new_files.get(path))?;
        let content = match (text(&old), text(&new)) {
            (Some(old), Some(new)) => {
                let old = match &lesson.previous {
                    Some(previous) => {
                        rename_crate(old, &previous.crate_name, &lesson.folder.crate_name)
                    }
                    None => old.to_string(),
                };
                if old == new {
                    continue;
                }
                Content::Text {
                    old,
                    new: new.to_string(),
                }
            }
            _ if old == new => continue,
            _ => Content::Binary,
        };
        changes.push(FileChange {
            path: path.join("/"),
            content,
        });
    }
    Ok(changes)
}

/// The files under `folder` that are not excluded, keyed by their path as a list of names
/// (so they sort folder by folder, the way `diff -r` walks them).
fn files(folder: &Path) -> Result<BTreeMap<Vec<String>, PathBuf>, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![(folder.to_path_buf(), Vec::new())];
    while let Some((dir, names)) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_excluded(&name) {
                continue;
            }
            let mut path_names = names.clone();
            path_names.push(name);
            let path = entry.path();
            if path.is_dir() {
                pending.push((path, path_names));
            } else {
                found.insert(path_names, path);
            }
        }
    }
    Ok(found)
}

/// A file's bytes; a file that does not exist reads as empty, as with `diff -N`.
fn read(path: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    match path {
        Some(path) => fs::read(path).map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(Vec::new()),
    }
}

/// The bytes as text, unless they are not UTF-8 or hold a NUL byte (as binary files do).
fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_databases_and_build_output_are_excluded() {
        for name in [
            "README.md",
            "target",
            "sessions.db",
            "sessions.db-shm",
            "x.db-wal",
        ] {
            assert!(is_excluded(name), "{name} should be excluded");
        }
        for name in [
            "readme.md",
            "README.md.orig",
            "lib.rs",
            "db.rs",
            "targets",
            "x.dbx",
        ] {
            assert!(!is_excluded(name), "{name} should be kept");
        }
    }

    #[test]
    fn the_rename_covers_both_spellings_of_the_crate_name() {
        let old = "use step2_login::app;\nname = \"step2-login\"\n";
        assert_eq!(
            rename_crate(old, "step2-login", "appendix-demo"),
            "use appendix_demo::app;\nname = \"appendix-demo\"\n"
        );
        assert_eq!(
            rename_crate("step21-x", "step2-login", "step3-logout"),
            "step21-x"
        );
    }

    #[test]
    fn changed_lines_count_as_one_removed_and_one_added() {
        assert_eq!(count_changes("a\nb\nc\n", "a\nB\nc\nd\n"), (1, 2));
        assert_eq!(count_changes("", "a\nb\n"), (0, 2));
        assert_eq!(count_changes("a\nb\n", ""), (2, 0));
        assert_eq!(count_changes("same\n", "same\n"), (0, 0));
        // A last line without its newline differs from the same line with one.
        assert_eq!(count_changes("a", "a\n"), (1, 1));
    }
}
