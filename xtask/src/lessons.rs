//! Where the lessons are. Lesson N is the change from folder `step(N-1)-*` to `stepN-*`;
//! lesson 1 is all of `step1-*` (the starting point); an add-on `appendix/NAME/` is the
//! lesson `NAME`, shown whole like lesson 1: it is a small crate of its own that uses the
//! last step's library, not a copy of the step, and perhaps another add-on's (group-commit
//! gives session-cache's store a writer), which is then its lesson before.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// A step or appendix folder: one crate of the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Folder {
    /// Relative to the workspace root, with forward slashes: `step3-logout`, `appendix/demo`.
    pub path: String,
    /// The package name in its Cargo.toml: `step3-logout`, `appendix-demo`.
    pub crate_name: String,
}

/// One lesson: what changed from `previous` (nothing, for lesson 1) to `folder`.
#[derive(Debug)]
pub struct Lesson {
    /// `1`..`5`, or an appendix's folder name.
    pub name: String,
    pub previous: Option<Folder>,
    pub folder: Folder,
}

/// Every lesson of the workspace at `root`, in course order: 1, 2, ..., the last step, then
/// the add-ons alphabetically, except that an add-on comes after those it depends on.
pub fn find(root: &Path) -> Result<Vec<Lesson>, String> {
    let steps = step_folders(root)?;
    let mut lessons = Vec::new();
    for (&n, path) in &steps {
        let previous = if n == 1 {
            None
        } else {
            let Some(previous) = steps.get(&(n - 1)) else {
                return Err(format!(
                    "{path} has no previous step: there is no step{}-* folder",
                    n - 1
                ));
            };
            Some(folder(root, previous)?)
        };
        lessons.push(Lesson {
            name: n.to_string(),
            previous,
            folder: folder(root, path)?,
        });
    }

    let appendix = root.join("appendix");
    if appendix.is_dir() {
        let mut add_ons = Vec::new();
        for name in subfolders(&appendix)? {
            let manifest = appendix.join(&name).join("Cargo.toml");
            let text = fs::read_to_string(&manifest).unwrap_or_default();
            add_ons.push((name, add_on_dependencies(&text)));
        }
        for name in after_their_dependencies(add_ons) {
            lessons.push(Lesson {
                folder: folder(root, &format!("appendix/{name}"))?,
                name,
                previous: None,
            });
        }
    }
    Ok(lessons)
}

/// The add-ons an add-on's Cargo.toml depends on: `x = { path = "../NAME" }` gives `NAME`.
fn add_on_dependencies(cargo_toml: &str) -> Vec<String> {
    cargo_toml
        .lines()
        .filter_map(|line| line.split_once("path = \"../")?.1.split_once('"'))
        .map(|(name, _)| name.to_string())
        .filter(|name| !name.contains('/'))
        .collect()
}

/// The names in their order, each moved after the ones it depends on (a cycle, which cargo
/// would refuse anyway, keeps its order).
fn after_their_dependencies(mut add_ons: Vec<(String, Vec<String>)>) -> Vec<String> {
    let mut ordered: Vec<String> = Vec::new();
    while !add_ons.is_empty() {
        let ready = add_ons
            .iter()
            .position(|(_, deps)| {
                deps.iter()
                    .all(|dep| ordered.contains(dep) || !add_ons.iter().any(|(n, _)| n == dep))
            })
            .unwrap_or(0);
        ordered.push(add_ons.remove(ready).0);
    }
    ordered
}

/// The `stepN-*` folders by N.
fn step_folders(root: &Path) -> Result<BTreeMap<u32, String>, String> {
    let mut steps = BTreeMap::new();
    for name in subfolders(root)? {
        let Some(n) = step_number(&name) else {
            continue;
        };
        if let Some(other) = steps.insert(n, name.clone()) {
            return Err(format!("two folders are step {n}: {other} and {name}"));
        }
    }
    Ok(steps)
}

/// `step3-logout` -> 3; anything else (`e2e`, `steps-x`) is not a step.
fn step_number(folder_name: &str) -> Option<u32> {
    let (number, _) = folder_name.strip_prefix("step")?.split_once('-')?;
    number.parse().ok()
}

/// The names of the folders in `dir`, sorted.
fn subfolders(dir: &Path) -> Result<Vec<String>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn folder(root: &Path, path: &str) -> Result<Folder, String> {
    let manifest = root.join(path).join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|e| format!("{path}/Cargo.toml: {e}"))?;
    let crate_name = package_name(&text)
        .ok_or_else(|| format!("{path}/Cargo.toml has no `name = \"...\"` under [package]"))?;
    Ok(Folder {
        path: path.to_string(),
        crate_name,
    })
}

/// The `name = "..."` line of a Cargo.toml's [package] table.
fn package_name(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if key.trim() == "name" {
                return Some(value.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_folders_are_named_step_a_number_and_a_dash() {
        assert_eq!(step_number("step3-logout"), Some(3));
        assert_eq!(step_number("step12-x"), Some(12));
        assert_eq!(step_number("step3"), None);
        assert_eq!(step_number("stepx-logout"), None);
        assert_eq!(step_number("e2e"), None);
    }

    #[test]
    fn an_add_on_comes_after_the_add_ons_it_depends_on() {
        let toml = "[dependencies]\nstep5-hardened = { path = \"../../step5-hardened\" }\nappendix-b = { path = \"../b\" }\n";
        assert_eq!(add_on_dependencies(toml), ["b"]);
        let add_ons = [("a", toml), ("b", ""), ("c", "")]
            .map(|(name, toml)| (name.to_string(), add_on_dependencies(toml)));
        assert_eq!(after_their_dependencies(add_ons.to_vec()), ["b", "a", "c"]);
    }

    #[test]
    fn the_crate_name_is_the_package_name_not_another_name() {
        let toml = "[workspace]\nname = \"no\"\n\n[package]\nversion = \"0.1.0\"\nname = \"appendix-demo\"\n\n[dependencies]\nname = \"no\"\n";
        assert_eq!(package_name(toml).as_deref(), Some("appendix-demo"));
        assert_eq!(package_name("[dependencies]\nname = \"x\"\n"), None);
    }
}
