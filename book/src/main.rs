//! Renders the course book: `cargo xtask book` writes the book's pages (the course's own
//! pages, the generated diff pages and the teacher's guide) into `target/book-src/`, then
//! runs this program on that folder. It is a crate of its own, not part of `xtask`, so
//! that `cargo xtask lesson-diff` never waits for mdBook to compile:
//!
//! ```text
//! cargo run --manifest-path book/Cargo.toml --target-dir target -- BOOK-SOURCE-FOLDER
//! ```
//!
//! It adds what the pages need to work offline (mermaid's script, taken from the
//! mdbook-mermaid crate's own files, and the diff pages' style and script), then builds
//! the HTML book into the folder that the source's `book.toml` names.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use mdbook_driver::MDBook;
use mdbook_mermaid::Mermaid;
use serde_json::Value;

/// The diff pages' colours and layout, and the projector-friendly sizes of every page.
const COURSE_CSS: &str = include_str!("../theme/course.css");
/// Colours the diff pages' code with the book's own highlight.js and lets the reader pick
/// side by side or unified.
const DIFF_JS: &str = include_str!("../theme/diff.js");
/// Starts mermaid on the pages, in the light or dark look of the book's theme.
const MERMAID_INIT_JS: &str = include_str!("../theme/mermaid-init.js");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source] = args.as_slice() else {
        eprintln!(
            "usage: cargo run -p course-book -- BOOK-SOURCE-FOLDER (cargo xtask book runs it)"
        );
        return ExitCode::from(2);
    };
    match render(Path::new(source)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn render(source: &Path) -> Result<(), String> {
    let theme = source.join("theme-extra");
    std::fs::create_dir_all(&theme).map_err(|e| format!("{}: {e}", theme.display()))?;
    let mermaid = mermaid_script()?;
    for (name, bytes) in [
        ("course.css", COURSE_CSS.as_bytes()),
        ("diff.js", DIFF_JS.as_bytes()),
        ("mermaid-init.js", MERMAID_INIT_JS.as_bytes()),
        ("mermaid.min.js", mermaid.as_slice()),
    ] {
        let path = theme.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    let mut book = MDBook::load(source).map_err(|e| format!("loading the book: {e:#}"))?;
    book.with_preprocessor(Mermaid);
    book.build()
        .map_err(|e| format!("building the book: {e:#}"))
}

/// mermaid.min.js as the mdbook-mermaid crate ships it (its binary installs that file into
/// a book; as a library it only converts the diagrams). Cargo has the crate's files, since
/// this program depends on it: `cargo metadata` says where. Offline, and for this machine's
/// platform only: the crates of other platforms may never have been downloaded.
fn mermaid_script() -> Result<Vec<u8>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host()?])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map_err(|e| format!("cannot run `cargo metadata`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`cargo metadata` printed no JSON: {e}"))?;
    let manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == "mdbook-mermaid")
        .and_then(|package| package["manifest_path"].as_str())
        .ok_or("`cargo metadata` does not list the mdbook-mermaid crate")?;
    let script: PathBuf = Path::new(manifest)
        .with_file_name("src")
        .join("bin")
        .join("assets")
        .join("mermaid.min.js");
    std::fs::read(&script).map_err(|e| format!("mermaid's script, {}: {e}", script.display()))
}

/// This machine's target triple, as `rustc -vV` gives it (`host: x86_64-unknown-linux-gnu`).
fn host() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run `rustc -vV`: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|host| host.trim().to_string())
        .ok_or_else(|| "`rustc -vV` does not say which platform this is".to_string())
}
