//! Unified diffs of a whole folder, made and applied in Rust (no `diff`, `patch` or `git`
//! program needed): an exercise's reference solution is one, against its step's folder.
//!
//! A patch is a run of file patches, each headed `--- a/PATH` / `+++ b/PATH` (`/dev/null` on
//! the side where the file does not exist), paths relative to the folder. Text before the
//! first header is a description and is ignored, as `patch` and `git apply` ignore it.
//! Applying one file's hunks is `diffy`'s job; finding the files is done here.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use similar::TextDiff;

/// One file's part of a patch.
#[derive(Debug, PartialEq)]
pub struct FilePatch {
    /// The file, relative to the folder, with forward slashes.
    pub path: String,
    pub change: FileChange,
    /// The header and hunks, as `diffy` parses them.
    pub text: String,
}

#[derive(Debug, PartialEq, Clone, Copy)]
pub enum FileChange {
    Create,
    Modify,
    Delete,
}

/// Cuts `patch` into its files. A header that names no file, or a path that leaves the
/// folder, is an error.
pub fn split(patch: &str) -> Result<Vec<FilePatch>, String> {
    let patch = patch.replace("\r\n", "\n");
    let lines: Vec<&str> = patch.split_inclusive('\n').collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            lines[i].starts_with("--- ")
                && lines
                    .get(i + 1)
                    .is_some_and(|next| next.starts_with("+++ "))
                && lines.get(i + 2).is_some_and(|hunk| hunk.starts_with("@@ "))
        })
        .collect();
    let mut files = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let old = header_path(lines[start], "--- ");
        let new = header_path(lines[start + 1], "+++ ");
        let (path, change) = match (old, new) {
            (None, Some(new)) => (new, FileChange::Create),
            (Some(old), None) => (old, FileChange::Delete),
            (Some(old), Some(new)) if old == new => (new, FileChange::Modify),
            (Some(old), Some(new)) => {
                return Err(format!(
                    "the patch renames {old} to {new}; only changes, new files and deleted files are supported"
                ));
            }
            (None, None) => return Err("a file patch with /dev/null on both sides".into()),
        };
        check_path(&path)?;
        files.push(FilePatch {
            path,
            change,
            text: lines[start..end].concat(),
        });
    }
    Ok(files)
}

/// `--- a/src/lib.rs` -> `src/lib.rs`; `--- /dev/null` -> None. A date after a tab is
/// dropped, and so is the `a/` or `b/` prefix.
fn header_path(line: &str, prefix: &str) -> Option<String> {
    let path = line.strip_prefix(prefix)?.trim_end_matches('\n');
    let path = path.split('\t').next().unwrap_or_default().trim();
    if path == "/dev/null" {
        return None;
    }
    let path = path
        .strip_prefix("a/")
        .or_else(|| path.strip_prefix("b/"))
        .unwrap_or(path);
    Some(path.to_string())
}

/// A patch may only write inside the folder it is applied to.
fn check_path(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains(':')
        || path.split('/').any(|part| part == ".." || part.is_empty());
    if bad {
        return Err(format!(
            "the patch names `{path}`, which is not a path inside the folder"
        ));
    }
    Ok(())
}

/// The file's new text: `old` (empty for a new file) with `file`'s hunks applied. Line ends
/// are compared without `\r`, and the file keeps its own (a checkout on Windows may have
/// turned every `\n` into `\r\n`).
pub fn apply_file(old: &str, file: &FilePatch) -> Result<String, String> {
    let crlf = old.contains("\r\n");
    let old = old.replace("\r\n", "\n");
    let parsed = diffy::Patch::from_str(&file.text)
        .map_err(|e| format!("{}: the patch does not parse: {e}", file.path))?;
    let new = diffy::apply(&old, &parsed).map_err(|e| {
        format!(
            "{}: the patch does not apply ({e}): the file is not what the patch expects",
            file.path
        )
    })?;
    Ok(if crlf { new.replace('\n', "\r\n") } else { new })
}

/// Applies every file of `patch` to `folder`. `rename` is applied to the patch's text first
/// (the crate's name in a copy). Nothing is written unless every file applies.
pub fn apply_to_folder(
    folder: &Path,
    patch: &str,
    rename: impl Fn(&str) -> String,
) -> Result<Vec<String>, String> {
    let files = split(&rename(patch))?;
    if files.is_empty() {
        return Err("the patch changes no file".into());
    }
    let mut results = Vec::new();
    for file in &files {
        let path = folder.join(&file.path);
        let old = match file.change {
            FileChange::Create if path.exists() => {
                return Err(format!(
                    "{}: the patch creates it, but it exists",
                    file.path
                ));
            }
            FileChange::Create => String::new(),
            _ => fs::read_to_string(&path).map_err(|e| format!("{}: {e}", file.path))?,
        };
        let new = apply_file(&old, file)?;
        results.push((path, file.change, new));
    }
    for (path, change, new) in results {
        if change == FileChange::Delete {
            fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        fs::write(&path, new).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(files.into_iter().map(|file| file.path).collect())
}

/// The patch that turns the files `old` into the files `new` (both: path -> text), with
/// headers `a/PATH` and `b/PATH`, 3 lines of context.
pub fn make(
    old: &std::collections::BTreeMap<String, String>,
    new: &std::collections::BTreeMap<String, String>,
) -> String {
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = String::new();
    for path in paths {
        let (before, after) = (old.get(path), new.get(path));
        if before == after {
            continue;
        }
        let from = match before {
            Some(_) => format!("a/{path}"),
            None => "/dev/null".to_string(),
        };
        let to = match after {
            Some(_) => format!("b/{path}"),
            None => "/dev/null".to_string(),
        };
        let (before, after) = (
            before.map(String::as_str).unwrap_or_default(),
            after.map(String::as_str).unwrap_or_default(),
        );
        let diff = TextDiff::from_lines(before, after);
        let mut hunks = diff.unified_diff();
        hunks.context_radius(3).header(&from, &to);
        out.push_str(&hunks.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const PATCH: &str = "\
The reference solution: a description above the first file is ignored.

--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,3 +1,4 @@
 mod a;
+mod b;
 mod c;
 mod d;
--- /dev/null
+++ b/src/b.rs
@@ -0,0 +1,2 @@
+//! New.
+pub fn b() {}
--- a/src/old.rs
+++ /dev/null
@@ -1 +0,0 @@
-pub fn old() {}
";

    #[test]
    fn a_patch_splits_into_its_files_with_their_paths_and_kinds() {
        let files = split(PATCH).expect("valid patch");
        let summary: Vec<(&str, FileChange)> =
            files.iter().map(|f| (f.path.as_str(), f.change)).collect();
        assert_eq!(
            summary,
            [
                ("src/lib.rs", FileChange::Modify),
                ("src/b.rs", FileChange::Create),
                ("src/old.rs", FileChange::Delete),
            ]
        );
        assert!(files[0].text.starts_with("--- a/src/lib.rs\n"));
        assert!(files[0].text.ends_with(" mod d;\n"), "{}", files[0].text);
    }

    #[test]
    fn a_patch_applies_to_the_text_it_was_made_from_and_keeps_windows_line_ends() {
        let files = split(PATCH).expect("valid patch");
        assert_eq!(
            apply_file("mod a;\nmod c;\nmod d;\n", &files[0]),
            Ok("mod a;\nmod b;\nmod c;\nmod d;\n".to_string())
        );
        assert_eq!(
            apply_file("mod a;\r\nmod c;\r\nmod d;\r\n", &files[0]),
            Ok("mod a;\r\nmod b;\r\nmod c;\r\nmod d;\r\n".to_string())
        );
        assert_eq!(
            apply_file("", &files[1]),
            Ok("//! New.\npub fn b() {}\n".to_string())
        );
    }

    #[test]
    fn a_patch_does_not_apply_to_other_text() {
        let files = split(PATCH).expect("valid patch");
        let err = apply_file("mod x;\nmod y;\n", &files[0]).expect_err("wrong base");
        assert!(
            err.starts_with("src/lib.rs: the patch does not apply"),
            "{err}"
        );
    }

    #[test]
    fn a_patch_may_not_write_outside_its_folder() {
        for path in ["../x.rs", "/etc/passwd", "src/../../x", "C:/x", "a\\b"] {
            let patch = format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n");
            assert!(split(&patch).is_err(), "{path} is accepted");
        }
    }

    #[test]
    fn a_made_patch_applies_back() {
        let old = BTreeMap::from([
            ("src/lib.rs".to_string(), "a\nb\nc\n".to_string()),
            ("gone.rs".to_string(), "x\n".to_string()),
            ("same.rs".to_string(), "s\n".to_string()),
        ]);
        let new = BTreeMap::from([
            ("src/lib.rs".to_string(), "a\nB\nc\n".to_string()),
            ("new.rs".to_string(), "n\n".to_string()),
            ("same.rs".to_string(), "s\n".to_string()),
        ]);
        let patch = make(&old, &new);
        let files = split(&patch).expect("made patch parses");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["gone.rs", "new.rs", "src/lib.rs"]);
        for file in &files {
            let before = old.get(&file.path).map(String::as_str).unwrap_or_default();
            let after = apply_file(before, file).expect("applies");
            match file.change {
                FileChange::Delete => assert_eq!(after, ""),
                _ => assert_eq!(Some(&after), new.get(&file.path)),
            }
        }
    }
}
