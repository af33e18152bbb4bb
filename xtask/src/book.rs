//! `cargo xtask book`: the course as an mdBook, in `target/book/`.
//!
//! The book has no text of its own to keep up to date. Its pages are written at build time
//! into `target/book-src/`:
//!
//! - the course's pages as they are (the top README, each step's and add-on's README, the
//!   Express tutorial, the exercises), at the same paths as in the repository, so that the
//!   links between them work unchanged. A link to a file that is not a page (a Cargo.toml, a
//!   script) points to a generated page that shows that file; a linked image is copied;
//! - one page per lesson with its diff ([`diff_page`]), made from the same [`diff::changes`]
//!   as `cargo xtask lesson-diff`, so the noise is left out the same way;
//! - the teacher's guide, from `docs/teachers/`: each lesson's notes with its plan for one
//!   class and the mistakes the exercise checks catch, and the schedule, with every minute
//!   added up here from the numbers in those files.
//!
//! Then the `course-book` crate renders them with mdBook, and this module checks the result:
//! every link and image of every page leads somewhere, and (with `--check`, for CI) every
//! diff page shows exactly what `lesson-diff` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use similar::{ChangeTag, TextDiff};

use crate::diff::{self, Content, FileChange};
use crate::exercises::Target;
use crate::lessons::Lesson;

mod teachers;

/// What `cargo xtask book` was asked for.
pub struct Options {
    /// The length of one class, in minutes; `None`: the teacher's guide's own (`class:`).
    pub class_minutes: Option<u32>,
    /// Also compare every diff page with `lesson-diff`'s output (CI).
    pub check: bool,
}

/// Builds the book and returns what to tell the user.
pub fn build(
    root: &Path,
    lessons: &[Lesson],
    targets: &[Target],
    options: &Options,
) -> Result<String, String> {
    let source = root.join("target").join("book-src");
    let out = root.join("target").join("book");
    if source.exists() {
        fs::remove_dir_all(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    }
    let src = source.join("src");
    eprintln!(
        "book: writing its pages into {} (each lesson's diff, the teacher's guide) ...",
        source.display()
    );

    let mut summary = String::from("# Summary\n\n[The course](README.md)\n\n# Lessons\n\n");
    let mut pages = Pages::new(root, &src);
    pages.add("README.md")?;
    let mut shown = Vec::new();
    for lesson in lessons {
        let page = format!("{}/README.md", lesson.folder.path);
        if lesson.folder.path.starts_with("appendix/") && !summary.contains("# Add-ons") {
            summary.push_str("\n# Add-ons\n\n");
        }
        let title = pages.add(&page)?;
        let lesson_shown = shown_lesson(lesson);
        let changes = in_class_order(
            diff::changes(root, &lesson_shown)?,
            &teachers::projected_order(root, lesson)?,
        );
        let diff_title = if lesson_shown.previous.is_none() {
            format!("{}'s code, whole", lesson.folder.path)
        } else {
            format!("Lesson {}'s diff", lesson.name)
        };
        write(
            &src.join(diff_page_path(lesson)),
            &diff_page(lesson, &lesson_shown, &changes, &diff_title),
        )?;
        let _ = writeln!(summary, "- [{title}]({page})");
        let _ = writeln!(summary, "  - [{diff_title}]({})", diff_page_path(lesson));
        shown.push((lesson_shown, changes));
    }

    summary.push_str("\n# Around the course\n\n");
    for page in ["docs/express-tutorial.md", "exercises/README.md"] {
        let title = pages.add(page)?;
        let _ = writeln!(summary, "- [{title}]({page})");
    }
    // Pages that the course's pages link to (the benchmark's results, the HTTPS front...).
    while let Some(page) = pages.next_linked() {
        let title = pages.add(&page)?;
        let _ = writeln!(summary, "- [{title}]({page})");
    }

    summary.push_str("\n# For teachers\n\n");
    let sizes: Vec<Vec<(String, usize)>> = shown
        .iter()
        .map(|(_, changes)| {
            changes
                .iter()
                .map(|c| (c.path.clone(), changed_lines(c)))
                .collect()
        })
        .collect();
    let guide = teachers::guide(root, lessons, targets, options.class_minutes, &sizes)?;
    for (i, (path, title, text, depth)) in guide.iter().enumerate() {
        // Markers around the guide, for `print_without_guide`: comments, shown nowhere.
        let mut text = text.clone();
        if i == 0 {
            text = format!("{GUIDE_BEGIN}\n\n{text}");
        }
        if i + 1 == guide.len() {
            text = format!("{text}\n\n{GUIDE_END}\n");
        }
        write(&src.join(path), &text)?;
        let _ = writeln!(summary, "{}- [{title}]({path})", "  ".repeat(*depth));
    }

    if !pages.files.is_empty() {
        summary.push_str("\n# Files the pages link to\n\n");
        for file in pages.files.clone() {
            let path = format!("files/{file}.md");
            write(&src.join(&path), &file_page(root, &file)?)?;
            let _ = writeln!(summary, "- [{file}]({path})");
        }
    }
    write(&src.join("SUMMARY.md"), &summary)?;
    write(&source.join("book.toml"), &book_toml(&out))?;

    render(root, &source)?;
    print_without_guide(&out)?;

    eprintln!("book: checking every link of every page ...");
    let broken = broken_links(&out)?;
    let mut report = String::new();
    if !broken.is_empty() {
        return Err(format!(
            "the book has {} broken link(s):\n  {}",
            broken.len(),
            broken.join("\n  ")
        ));
    }
    if options.check {
        for (lesson, changes) in &shown {
            let page = out.join(diff_page_path(lesson).replace(".md", ".html"));
            let html = fs::read_to_string(&page).map_err(|e| format!("{}: {e}", page.display()))?;
            let expected = crate::unified_diff(lesson, changes);
            let shown = diff_from_page(&html);
            if shown != expected {
                return Err(format!(
                    "{} does not show what `cargo xtask lesson-diff` shows for {}: {}",
                    page.display(),
                    lesson.folder.path,
                    first_difference(&expected, &shown)
                ));
            }
        }
        let _ = writeln!(
            report,
            "book: checked every link, and {} diff pages against lesson-diff",
            shown.len()
        );
    }
    let index = out.join("index.html");
    let _ = writeln!(
        report,
        "The book is in {}\nOpen it in a browser: {}\n(on a Mac `open {}`, on Windows `start {}`, on Linux `xdg-open {}`)\nThe teacher's guide: {}",
        out.display(),
        file_url(&index),
        index.display(),
        index.display(),
        index.display(),
        file_url(&out.join("docs/teachers/README.html")),
    );
    Ok(report)
}

/// The comments that open and close the teacher's guide in the book's pages.
const GUIDE_BEGIN: &str = "<!-- course-book: the teacher's guide begins -->";
const GUIDE_END: &str = "<!-- course-book: the teacher's guide ends -->";

/// mdBook's print page (`print.html`, what "Print" and "Save as PDF" use) holds every
/// chapter; a student who prints the book must not print the guide's answers. The guide's
/// chapters are cut out of it, between their markers, and a line says where they are.
fn print_without_guide(out: &Path) -> Result<(), String> {
    let path = out.join("print.html");
    let html = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(begin), Some(end)) = (html.find(GUIDE_BEGIN), html.find(GUIDE_END)) else {
        return Err(format!(
            "{}: the teacher's guide's markers are missing, so it cannot be left out of the print version",
            path.display()
        ));
    };
    // The page break mdBook puts before the guide's first chapter goes with it.
    const PAGE_BREAK: &str = "<div style=\"break-before: page; page-break-before: always;\"></div>";
    let before = html[..begin].trim_end();
    let before = before.strip_suffix(PAGE_BREAK).unwrap_or(before);
    let printed = format!(
        "{before}\n<p class=\"guide-left-out\"><em>The teacher's guide is not in the print \
         version: it is the part \"For teachers\" of the book on screen.</em></p>\n{}",
        &html[end + GUIDE_END.len()..]
    );
    fs::write(&path, printed).map_err(|e| format!("{}: {e}", path.display()))
}

/// What a lesson's page in the book shows: for a step, its lesson as `lesson-diff` has it;
/// for an add-on, its crate whole (an add-on's whole source is its lesson).
fn shown_lesson(lesson: &Lesson) -> Lesson {
    Lesson {
        name: lesson.name.clone(),
        previous: if lesson.folder.path.starts_with("appendix/") {
            None
        } else {
            lesson.previous.clone()
        },
        folder: lesson.folder.clone(),
    }
}

/// The lesson's files with those its classes project first, in the order of the teacher's
/// plans (`files:` in `docs/teachers/lesson-N.md`), then the others as `lesson-diff` lists
/// them: the diff page follows the classes. Only the order changes, never a file's diff.
fn in_class_order(mut changes: Vec<FileChange>, order: &[String]) -> Vec<FileChange> {
    changes.sort_by_key(|change| {
        order
            .iter()
            .position(|path| *path == change.path)
            .unwrap_or(order.len())
    });
    changes
}

/// A file's changed lines as `lesson-diff --stat` counts them (added and removed; a whole
/// file's lines); a binary file counts none.
fn changed_lines(change: &FileChange) -> usize {
    match &change.content {
        Content::Text { old, new } => {
            let (removed, added) = diff::count_changes(old, new);
            removed + added
        }
        Content::Binary => 0,
    }
}

/// `diffs/3.md`, `diffs/session-cache.md`.
pub fn diff_page_path(lesson: &Lesson) -> String {
    format!("diffs/{}.md", lesson.name)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn file_url(path: &Path) -> String {
    let text = path.display().to_string().replace('\\', "/");
    if text.starts_with('/') {
        format!("file://{text}")
    } else {
        format!("file:///{text}")
    }
}

fn book_toml(out: &Path) -> String {
    // TOML's literal strings ('...') take a Windows path's backslashes as they are.
    format!(
        "[book]\n\
         title = \"Sessions in Rust: an Express tutorial, ported step by step\"\n\
         language = \"en\"\n\
         src = \"src\"\n\n\
         [build]\n\
         build-dir = '{}'\n\
         create-missing = false\n\
         # Not mdBook's `index` preprocessor: it would rename each README.md to index.md and\n\
         # break the pages' links to one another. Nor `links`: the pages use no {{{{#include}}}}.\n\
         use-default-preprocessors = false\n\n\
         [output.html]\n\
         # The pages' text as GitHub shows it: straight quotes, no chapter numbers.\n\
         smart-punctuation = false\n\
         no-section-label = true\n\
         additional-css = [\"theme-extra/course.css\"]\n\
         additional-js = [\"theme-extra/mermaid.min.js\", \"theme-extra/mermaid-init.js\", \"theme-extra/diff.js\"]\n\
         [output.html.playground]\n\
         # No \"run\" button: it would need the Rust playground, on the internet.\n\
         runnable = false\n",
        out.display()
    )
}

/// Runs the `course-book` crate on the book's source. It is built first with cargo's own
/// progress shown: the first build compiles mdBook, 10 to 15 minutes on a 2-core laptop, and a
/// command silent for that long looks stuck. Once built, cargo prints one line.
fn render(root: &Path, source: &Path) -> Result<(), String> {
    eprintln!(
        "book: building the book's renderer, mdBook (the first time 10 to 15 minutes; `cargo xtask prepare` does it ahead) ..."
    );
    let status = Command::new(cargo())
        .arg("build")
        .args(renderer_args(root))
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the book's renderer failed ({status})"));
    }
    eprintln!("book: rendering the pages with mdBook ...");
    let status = Command::new(cargo())
        .args(["run", "--quiet"])
        .args(renderer_args(root))
        .arg("--")
        .arg(source)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rendering the book failed ({status})"))
    }
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// How cargo finds the renderer, a workspace of its own in `book/` (see its Cargo.toml for
/// why), built into the course's `target/` like everything else.
pub fn renderer_args(root: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "--manifest-path".into(),
        root.join("book").join("Cargo.toml").into_os_string(),
        "--target-dir".into(),
        root.join("target").into_os_string(),
    ]
}

// --- The course's pages -------------------------------------------------------------------

/// The course's pages copied into the book, and what their links lead to.
struct Pages<'a> {
    root: &'a Path,
    src: &'a Path,
    added: BTreeSet<String>,
    /// Markdown files that a page links to, not yet in the book.
    linked: BTreeSet<String>,
    /// Other files that a page links to: each gets a page that shows it.
    files: BTreeSet<String>,
}

impl<'a> Pages<'a> {
    fn new(root: &'a Path, src: &'a Path) -> Self {
        Pages {
            root,
            src,
            added: BTreeSet::new(),
            linked: BTreeSet::new(),
            files: BTreeSet::new(),
        }
    }

    /// Copies the page at `path` (relative to the root) into the book, with its links to
    /// non-page files turned into links to their pages; returns its title.
    fn add(&mut self, path: &str) -> Result<String, String> {
        let text = fs::read_to_string(self.root.join(path)).map_err(|e| format!("{path}: {e}"))?;
        self.added.insert(path.to_string());
        self.linked.remove(path);
        let text = self.rewrite_links(path, &text)?;
        write(&self.src.join(path), &text)?;
        Ok(title(&text).unwrap_or_else(|| path.to_string()))
    }

    fn next_linked(&mut self) -> Option<String> {
        self.linked.iter().next().cloned()
    }

    /// The page's text with each relative link checked: a page or an image stays as it is
    /// (the book has it at the same place), any other file is shown by a page of its own.
    fn rewrite_links(&mut self, page: &str, text: &str) -> Result<String, String> {
        let dir = parent(page);
        let mut out = String::with_capacity(text.len());
        let mut fence: Option<String> = None;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            if let Some(open) = &fence {
                if trimmed.starts_with(open.as_str()) {
                    fence = None;
                }
                out.push_str(line);
                continue;
            }
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                let marks: String = trimmed
                    .chars()
                    .take_while(|&c| c == '`' || c == '~')
                    .collect();
                fence = Some(marks);
                out.push_str(line);
                continue;
            }
            out.push_str(&self.rewrite_line(&dir, line)?);
        }
        Ok(out)
    }

    fn rewrite_line(&mut self, dir: &str, line: &str) -> Result<String, String> {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        let mut in_code = false;
        while let Some(i) = rest.find(['`', ']']) {
            let (before, after) = rest.split_at(i);
            out.push_str(before);
            if let Some(after_tick) = after.strip_prefix('`') {
                in_code = !in_code;
                out.push('`');
                rest = after_tick;
                continue;
            }
            if in_code || !after.starts_with("](") {
                out.push(']');
                rest = &after[1..];
                continue;
            }
            let Some(end) = after.find(')') else {
                out.push_str(after);
                return Ok(out);
            };
            let target = &after[2..end];
            out.push_str("](");
            out.push_str(&self.link(dir, target)?);
            out.push(')');
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Where a link to `target` from a page in `dir` should lead in the book.
    fn link(&mut self, dir: &str, target: &str) -> Result<String, String> {
        let (path, fragment) = match target.split_once('#') {
            Some((path, fragment)) => (path, Some(fragment)),
            None => (target, None),
        };
        let is_url = path.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if path.is_empty() || is_url || path.contains(' ') {
            return Ok(target.to_string());
        }
        let Some(resolved) = join(dir, path) else {
            return Ok(target.to_string());
        };
        let on_disk = self.root.join(&resolved);
        if on_disk.is_dir() {
            let readme = format!("{}/README.md", resolved.trim_end_matches('/'));
            if self.root.join(&readme).is_file() {
                self.note_page(&readme);
                let link = relative(dir, &readme);
                return Ok(match fragment {
                    Some(fragment) => format!("{link}#{fragment}"),
                    None => link,
                });
            }
            return Ok(target.to_string());
        }
        if !on_disk.is_file() {
            // Left as it is: the check of the built book names it as broken.
            return Ok(target.to_string());
        }
        if resolved.ends_with(".md") {
            self.note_page(&resolved);
            return Ok(target.to_string());
        }
        let is_image = [".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"]
            .iter()
            .any(|end| resolved.to_ascii_lowercase().ends_with(end));
        if is_image {
            let copy = self.src.join(&resolved);
            if let Some(parent) = copy.parent() {
                fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            fs::copy(&on_disk, &copy).map_err(|e| format!("{resolved}: {e}"))?;
            return Ok(target.to_string());
        }
        self.files.insert(resolved.clone());
        Ok(relative(dir, &format!("files/{resolved}.md")))
    }

    fn note_page(&mut self, page: &str) {
        // The teacher's guide has its own part of the book, made by `teachers::guide`.
        if !self.added.contains(page) && !page.starts_with(teachers::FOLDER) {
            self.linked.insert(page.to_string());
        }
    }
}

/// The first `# ` heading of a page.
fn title(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("# "))
        .map(|title| title.trim().replace(['[', ']'], ""))
}

/// `step3-logout` for `step3-logout/README.md`; `` for `README.md`.
fn parent(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(dir, _)| dir.to_string())
        .unwrap_or_default()
}

/// `dir/path` with `.` and `..` worked out; `None` if it leaves the repository.
fn join(dir: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// The link from a page in `dir` to `path` (both relative to the root).
fn relative(dir: &str, path: &str) -> String {
    let from: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = path.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// A page that shows one file of the repository that a page links to.
fn file_page(root: &Path, file: &str) -> Result<String, String> {
    let text = fs::read_to_string(root.join(file)).map_err(|e| format!("{file}: {e}"))?;
    let fence = "`".repeat(longest_run(&text, '`').max(2) + 1);
    Ok(format!(
        "# {file}\n\nThe file `{file}` of the course's repository, as it was when this book was built.\n\n{fence}{}\n{text}{}{fence}\n",
        fence_language(file),
        if text.ends_with('\n') { "" } else { "\n" },
    ))
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// The language a file is coloured as, by highlight.js's name (the book's highlighter).
fn language(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("rs") => "rust",
        Some("toml") => "ini",
        Some("html" | "htm" | "svg" | "xml") => "xml",
        Some("css") => "css",
        Some("js" | "mjs") => "javascript",
        Some("json") => "json",
        Some("sql") => "sql",
        Some("md") => "markdown",
        Some("sh" | "bash") => "bash",
        Some("yml" | "yaml") => "yaml",
        _ => "plaintext",
    }
}

fn fence_language(path: &str) -> &'static str {
    match language(path) {
        "ini" => "toml",
        "plaintext" => "text",
        other => other,
    }
}

// --- The diff pages -----------------------------------------------------------------------

/// One lesson's page: its files with their sizes, then each file's changes, twice (side by
/// side and unified: the style sheet shows the one that fits the window, or the one the
/// reader picks). Raw HTML in the Markdown page: one table row per line, with no blank line
/// anywhere, so that Markdown leaves all of it as it is.
fn diff_page(lesson: &Lesson, shown: &Lesson, changes: &[FileChange], title: &str) -> String {
    let whole = shown.previous.is_none();
    let mut page = String::new();
    let _ = writeln!(page, "# {title}\n");
    let lesson_page = format!("../{}/README.md", lesson.folder.path);
    let (mut total_added, mut total_removed) = (0, 0);
    for change in changes {
        if let Content::Text { old, new } = &change.content {
            let (removed, added) = diff::count_changes(old, new);
            total_added += added;
            total_removed += removed;
        }
    }
    if whole && lesson.previous.is_none() {
        let _ = writeln!(
            page,
            "The starting point, whole: what `cargo xtask lesson-diff {}` prints, {} files, \
             {total_added} lines, without its README. Generated from the folder when this book \
             was built. The lesson's page: [{}]({lesson_page}).\n",
            lesson.name,
            changes.len(),
            shown.folder.path,
        );
    } else if whole {
        let _ = writeln!(
            page,
            "An add-on's lesson is its crate: every file of `{}`, {} files, {total_added} \
             lines, without its README. Generated from the folder when this book was built. \
             Its page: [{}]({lesson_page}).\n",
            shown.folder.path,
            changes.len(),
            shown.folder.path,
        );
    } else if let Some(previous) = &shown.previous {
        let _ = writeln!(
            page,
            "What `cargo xtask lesson-diff {}` prints, in colour: from `{}` to `{}`, {} files, \
             <span class=\"stat-ins\">+{total_added}</span> \
             <span class=\"stat-del\">−{total_removed}</span>, without the lines that only \
             rename the crate, the READMEs and the databases. Generated from the folders when \
             this book was built. The lesson's page: [{}]({lesson_page}).\n",
            lesson.name,
            previous.path,
            shown.folder.path,
            changes.len(),
            shown.folder.path,
        );
    }

    // `in_class_order` put the files the teacher's classes project first.
    let in_path_order = changes.windows(2).all(|pair| {
        pair[0].path.split('/').collect::<Vec<_>>() <= pair[1].path.split('/').collect::<Vec<_>>()
    });
    if !in_path_order {
        page.push_str(
            "The files the teacher's guide projects come first, in the order its classes show \
             them; the rest, tests included, follow for reading.\n\n",
        );
    }
    page.push_str("<div class=\"lesson-diff\">\n");
    page.push_str(
        "<table class=\"diff-files\" id=\"diff-files\">\n<tr><th>File</th><th>Lines</th></tr>\n",
    );
    for (i, change) in changes.iter().enumerate() {
        let size = match &change.content {
            Content::Text { old, new } => {
                let (removed, added) = diff::count_changes(old, new);
                if whole {
                    format!("{added}")
                } else {
                    format!(
                        "<span class=\"stat-ins\">+{added}</span> <span class=\"stat-del\">−{removed}</span>"
                    )
                }
            }
            Content::Binary => "binary".to_string(),
        };
        let _ = writeln!(
            page,
            "<tr><td><a href=\"#file-{}\">{}</a></td><td>{size}</td></tr>",
            i + 1,
            escape(&change.path)
        );
    }
    page.push_str("</table>\n");
    // A bar that stays at the top while the files scroll by: the layout, and the way back
    // to the list of files.
    if whole {
        page.push_str(
            "<div class=\"diff-controls\"><a class=\"to-files\" href=\"#diff-files\">↑ The list of files</a></div>\n",
        );
    } else {
        page.push_str(
            "<div class=\"diff-controls\">Show: \
             <button type=\"button\" data-layout=\"auto\">Fit the window</button>\
             <button type=\"button\" data-layout=\"split\">Side by side</button>\
             <button type=\"button\" data-layout=\"unified\">Unified</button>\
             <a class=\"to-files\" href=\"#diff-files\">↑ The list of files</a></div>\n",
        );
    }
    let old_folder = shown.previous.as_ref().map(|p| p.path.as_str());
    for (i, change) in changes.iter().enumerate() {
        let old_name = match old_folder {
            Some(folder) => format!("{folder}/{}", change.path),
            None => "/dev/null".to_string(),
        };
        let new_name = format!("{}/{}", shown.folder.path, change.path);
        let _ = writeln!(
            page,
            "<h2 id=\"file-{}\" class=\"diff-file\">{}</h2>",
            i + 1,
            escape(&change.path)
        );
        let _ = writeln!(
            page,
            "<div class=\"file-diff\" data-lang=\"{}\" data-old=\"{}\" data-new=\"{}\">",
            language(&change.path),
            escape(&old_name),
            escape(&new_name)
        );
        match &change.content {
            Content::Text { old, new } => {
                let diff = TextDiff::from_lines(old.as_str(), new.as_str());
                if !whole {
                    page.push_str(&split_table(&diff));
                }
                page.push_str(&unified_table(&diff, whole));
            }
            Content::Binary => {
                let _ = writeln!(
                    page,
                    "<p class=\"binary\">Binary files {} and {} differ</p>",
                    escape(&old_name),
                    escape(&new_name)
                );
            }
        }
        page.push_str("</div>\n");
    }
    page.push_str("</div>\n");
    page
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line as the table shows it: without its line ending.
fn line_text(value: &str) -> String {
    escape(value.strip_suffix('\n').unwrap_or(value))
}

fn number(index: Option<usize>) -> String {
    index.map(|i| (i + 1).to_string()).unwrap_or_default()
}

/// The unified table: the same hunks, 3 lines of context, as `lesson-diff` prints them,
/// each line with its marker (hidden for a whole file).
fn unified_table<'a>(diff: &TextDiff<'a, 'a, str>, whole: bool) -> String {
    let mut table = format!(
        "<table class=\"unified{}\">\n<colgroup><col class=\"ln old\"><col class=\"ln\"><col class=\"m\"><col></colgroup>\n",
        if whole { " whole" } else { "" }
    );
    let mut unified = diff.unified_diff();
    unified.context_radius(3);
    for hunk in unified.iter_hunks() {
        let _ = writeln!(
            table,
            "<tr class=\"hunk\"><td class=\"ln old\"></td><td class=\"ln\"></td><td class=\"m\">@</td><td class=\"c\">{}</td></tr>",
            escape(&hunk.header().to_string())
        );
        for change in hunk.iter_changes() {
            let (class, marker, side) = match change.tag() {
                ChangeTag::Equal => ("ctx", " ", "b"),
                ChangeTag::Delete => ("del", "-", "o"),
                ChangeTag::Insert => ("ins", "+", "n"),
            };
            let _ = writeln!(
                table,
                "<tr class=\"{class}\"><td class=\"ln old\">{}</td><td class=\"ln\">{}</td><td class=\"m\">{marker}</td><td class=\"c\" data-s=\"{side}\">{}</td></tr>",
                number(change.old_index()),
                number(change.new_index()),
                line_text(change.value())
            );
            if change.missing_newline() {
                table.push_str(
                    "<tr class=\"nonl\"><td class=\"ln old\"></td><td class=\"ln\"></td><td class=\"m\">\\</td><td class=\"c\"> No newline at end of file</td></tr>\n",
                );
            }
        }
    }
    table.push_str("</table>\n");
    table
}

/// The side-by-side table: old on the left, new on the right, a removed line beside the
/// line that replaced it.
fn split_table<'a>(diff: &TextDiff<'a, 'a, str>) -> String {
    // The columns' widths up front: with `table-layout: fixed` the first row would set them,
    // and that is a hunk line across all four.
    let mut table = String::from(
        "<table class=\"split\">\n<colgroup><col class=\"ln\"><col><col class=\"ln\"><col></colgroup>\n",
    );
    let mut unified = diff.unified_diff();
    unified.context_radius(3);
    for hunk in unified.iter_hunks() {
        let _ = writeln!(
            table,
            "<tr class=\"hunk\"><td colspan=\"4\">{}</td></tr>",
            escape(&hunk.header().to_string())
        );
        let mut deleted = Vec::new();
        let mut inserted = Vec::new();
        let flush = |table: &mut String,
                     deleted: &mut Vec<(String, String)>,
                     inserted: &mut Vec<(String, String)>| {
            for i in 0..deleted.len().max(inserted.len()) {
                let cell = |side: &[(String, String)], class: &str, s: &str| match side.get(i) {
                    Some((n, text)) => format!(
                        "<td class=\"ln\">{n}</td><td class=\"c {class}\" data-s=\"{s}\">{text}</td>"
                    ),
                    None => "<td class=\"ln\"></td><td class=\"c none\"></td>".to_string(),
                };
                let _ = writeln!(
                    table,
                    "<tr class=\"chg\">{}{}</tr>",
                    cell(deleted, "del", "o"),
                    cell(inserted, "ins", "n")
                );
            }
            deleted.clear();
            inserted.clear();
        };
        for change in hunk.iter_changes() {
            let text = line_text(change.value());
            match change.tag() {
                ChangeTag::Equal => {
                    flush(&mut table, &mut deleted, &mut inserted);
                    let _ = writeln!(
                        table,
                        "<tr class=\"ctx\"><td class=\"ln\">{}</td><td class=\"c\" data-s=\"o\">{text}</td><td class=\"ln\">{}</td><td class=\"c\" data-s=\"n\">{text}</td></tr>",
                        number(change.old_index()),
                        number(change.new_index()),
                    );
                }
                ChangeTag::Delete => deleted.push((number(change.old_index()), text)),
                ChangeTag::Insert => {
                    inserted.push((number(change.new_index()), text));
                }
            }
        }
        flush(&mut table, &mut deleted, &mut inserted);
    }
    table.push_str("</table>\n");
    table
}

// --- Checking the built book --------------------------------------------------------------

/// The unified diff that a built diff page shows, read back from its HTML: each file's
/// header from its `data-old`/`data-new`, then each row of its unified table. For a page
/// that shows its lesson truly, this is `lesson-diff`'s output to the byte.
pub fn diff_from_page(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<div class=\"file-diff\"") {
        rest = &rest[start..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        let old = unescape(&attribute(tag, "data-old").unwrap_or_default());
        let new = unescape(&attribute(tag, "data-new").unwrap_or_default());
        let end = rest[tag_end..]
            .find("<div class=\"file-diff\"")
            .map_or(rest.len(), |i| i + tag_end);
        let file = &rest[..end];
        rest = &rest[end..];
        if file.contains("<p class=\"binary\">") {
            let _ = writeln!(out, "Binary files {old} and {new} differ");
            continue;
        }
        let _ = writeln!(out, "--- {old}\n+++ {new}");
        let Some(table) = file.find("<table class=\"unified") else {
            continue;
        };
        let mut cells = &file[table..];
        while let Some(m) = cells.find("<td class=\"m\">") {
            cells = &cells[m + "<td class=\"m\">".len()..];
            let marker_end = cells.find("</td>").unwrap_or(cells.len());
            let marker = unescape(&cells[..marker_end]);
            let Some(c) = cells.find("<td class=\"c\"") else {
                break;
            };
            cells = &cells[c..];
            let open_end = cells.find('>').map_or(cells.len(), |i| i + 1);
            cells = &cells[open_end..];
            let text_end = cells.find("</td>").unwrap_or(cells.len());
            let text = unescape(&cells[..text_end]);
            if marker == "@" {
                let _ = writeln!(out, "{text}");
            } else {
                let _ = writeln!(out, "{marker}{text}");
            }
        }
    }
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Where two texts first part, for an error message.
fn first_difference(expected: &str, shown: &str) -> String {
    for (n, (e, s)) in expected.lines().zip(shown.lines()).enumerate() {
        if e != s {
            return format!("line {}: lesson-diff has {e:?}, the page {s:?}", n + 1);
        }
    }
    format!(
        "lesson-diff has {} lines, the page {}",
        expected.lines().count(),
        shown.lines().count()
    )
}

/// Every relative `href` and `src` in the book's HTML pages that leads nowhere: to a file
/// the book does not have, or to an `#id` that the page does not have.
pub fn broken_links(out: &Path) -> Result<Vec<String>, String> {
    let mut pages = BTreeMap::new();
    let mut pending = vec![out.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "html") {
                let html =
                    fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                pages.insert(path, html);
            }
        }
    }
    let mut ids: BTreeMap<&PathBuf, BTreeSet<String>> = BTreeMap::new();
    for (path, html) in &pages {
        ids.insert(path, values(html, "id").into_iter().collect());
    }
    let mut broken = Vec::new();
    for (path, html) in &pages {
        let page = path.strip_prefix(out).unwrap_or(path).display().to_string();
        // mdBook's 404 page and print page repeat other pages' links from elsewhere.
        if page == "404.html" || page == "print.html" {
            continue;
        }
        for link in values(html, "href").into_iter().chain(values(html, "src")) {
            let link = unescape(&link);
            let is_url = link.split_once(':').is_some_and(|(scheme, _)| {
                !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if is_url || link.is_empty() {
                continue;
            }
            let (file, fragment) = match link.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (link.as_str(), None),
            };
            let file = file.split('?').next().unwrap_or_default();
            let target = if file.is_empty() {
                path.clone()
            } else {
                let Some(dir) = path.parent() else { continue };
                normalize(&dir.join(file))
            };
            let exists = target.is_file() || target.join("index.html").is_file();
            if !exists {
                broken.push(format!("{page}: {link} (no such file)"));
                continue;
            }
            if let Some(fragment) = fragment.filter(|f| !f.is_empty())
                && let Some(known) = ids.get(&target)
                && !known.contains(fragment)
            {
                broken.push(format!("{page}: {link} (no #{fragment} there)"));
            }
        }
    }
    Ok(broken)
}

/// Every value of the attribute `name` in the tags of `html`. Text in a page has its `<`
/// written `&lt;`, so each `<` opens a tag (or a comment, or a script's code, skipped): the
/// code on a diff page that reads `href="/login"` is text, not a link.
fn values(html: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let end = rest.find('>').map_or(rest.len(), |end| end + 1);
        let tag = &rest[..end];
        rest = &rest[end..];
        if tag.starts_with("<script") {
            rest = rest.find("</script>").map_or("", |end| &rest[end..]);
        }
        let mut attributes = tag;
        while let Some(at) = attributes.find(&needle) {
            attributes = &attributes[at + needle.len()..];
            if let Some(close) = attributes.find('"') {
                found.push(attributes[..close].to_string());
                attributes = &attributes[close..];
            }
        }
    }
    found
}

/// The path with `.` and `..` worked out, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lessons::Folder;

    fn lesson(previous: Option<&str>) -> Lesson {
        Lesson {
            name: "2".into(),
            previous: previous.map(|p| Folder {
                path: p.into(),
                crate_name: p.into(),
            }),
            folder: Folder {
                path: "step2-b".into(),
                crate_name: "step2-b".into(),
            },
        }
    }

    fn change(path: &str, old: &str, new: &str) -> FileChange {
        FileChange {
            path: path.into(),
            content: Content::Text {
                old: old.into(),
                new: new.into(),
            },
        }
    }

    #[test]
    fn a_diff_page_reads_back_as_the_lesson_diff_it_was_made_from() {
        let lesson = lesson(Some("step1-a"));
        let changes = vec![
            change(
                "src/lib.rs",
                "fn a() {}\n// <old> & \"x\"\nlast",
                "fn a() {}\n// <new> & \"y\"\nlast\n",
            ),
            change("tests/new.rs", "", "#[test]\nfn t() {}\n"),
            FileChange {
                path: "static/logo.png".into(),
                content: Content::Binary,
            },
        ];
        let page = diff_page(&lesson, &lesson, &changes, "Lesson 2's diff");
        assert_eq!(
            diff_from_page(&page),
            crate::unified_diff(&lesson, &changes)
        );
        assert!(page.contains("<table class=\"split\">"), "{page}");
    }

    #[test]
    fn a_page_that_lost_a_line_does_not_read_back_as_the_lesson_diff() {
        let lesson = lesson(Some("step1-a"));
        let changes = vec![change("src/lib.rs", "a\nb\n", "a\nc\n")];
        let page = diff_page(&lesson, &lesson, &changes, "Lesson 2's diff").replace(
            "<td class=\"c\" data-s=\"n\">c</td>",
            "<td class=\"c\" data-s=\"n\"></td>",
        );
        assert_ne!(
            diff_from_page(&page),
            crate::unified_diff(&lesson, &changes)
        );
    }

    #[test]
    fn a_whole_crate_reads_back_as_new_files_and_has_no_split_table() {
        let lesson = lesson(None);
        let changes = vec![change("src/main.rs", "", "fn main() {}\n")];
        let page = diff_page(&lesson, &lesson, &changes, "step2-b's code, whole");
        assert_eq!(
            diff_from_page(&page),
            crate::unified_diff(&lesson, &changes)
        );
        assert!(!page.contains("class=\"split\""), "{page}");
        assert!(page.contains("class=\"unified whole\""), "{page}");
    }

    #[test]
    fn diff_html_has_no_blank_line_that_would_end_markdowns_raw_html() {
        let lesson = lesson(Some("step1-a"));
        let changes = vec![change("a.rs", "x\n\n\ny\n", "x\n\n\nz\n\n")];
        let page = diff_page(&lesson, &lesson, &changes, "t");
        let html = &page[page.find("<div class=\"lesson-diff\">").unwrap_or(0)..];
        assert!(!html.contains("\n\n"), "{html}");
    }

    #[test]
    fn links_are_resolved_from_the_page_folder() {
        assert_eq!(
            join("step3-logout", "../docs/x.md").as_deref(),
            Some("docs/x.md")
        );
        assert_eq!(join("", "../x.md"), None);
        assert_eq!(
            relative("step3-logout", "files/Cargo.toml.md"),
            "../files/Cargo.toml.md"
        );
        assert_eq!(
            relative("appendix/a", "appendix/b/README.md"),
            "../b/README.md"
        );
        assert_eq!(relative("", "docs/x.md"), "docs/x.md");
    }

    #[test]
    fn a_link_to_a_code_file_leads_to_its_page_and_a_page_link_stays() {
        let root = tempdir();
        fs::create_dir_all(root.join("step1/src")).ok();
        fs::write(root.join("step1/src/lib.rs"), "fn x() {}\n").ok();
        fs::write(root.join("step1/other.md"), "# Other\n").ok();
        let src = root.join("out");
        let mut pages = Pages::new(&root, &src);
        let text = "See [lib](src/lib.rs#L1), [other](other.md#a), [web](https://x.org/a.rs) \
                    and `[not](src/lib.rs)`.\n```text\n[code](src/lib.rs)\n```\n";
        let rewritten = pages.rewrite_links("step1/README.md", text);
        assert_eq!(
            rewritten.as_deref(),
            Ok(
                "See [lib](../files/step1/src/lib.rs.md), [other](other.md#a), [web](https://x.org/a.rs) \
                and `[not](src/lib.rs)`.\n```text\n[code](src/lib.rs)\n```\n"
            )
        );
        assert!(pages.files.contains("step1/src/lib.rs"));
        assert_eq!(pages.next_linked().as_deref(), Some("step1/other.md"));
        fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn a_link_to_a_missing_page_or_id_is_broken_and_code_text_is_no_link() {
        let out = tempdir_named("links");
        fs::create_dir_all(out.join("step3")).ok();
        fs::write(
            out.join("step3/README.html"),
            "<h2 id=\"run-it\">Run it</h2><a href=\"#run-it\">ok</a>\
             <a href=\"../diffs/3.html#file-1\">ok</a><a href=\"../diffs/3.html#file-9\">no id</a>\
             <a href=\"../gone.html\">gone</a><img src=\"../pic.png\">\
             <a href=\"https://example.org/x\">web</a>\
             <td>&lt;a href=\"/login\"&gt;</td><script>x = '<a href=\"/nowhere\">';</script>",
        )
        .ok();
        fs::create_dir_all(out.join("diffs")).ok();
        fs::write(out.join("diffs/3.html"), "<h2 id=\"file-1\">a</h2>").ok();
        let broken = broken_links(&out);
        assert_eq!(
            broken,
            Ok(vec![
                "step3/README.html: ../diffs/3.html#file-9 (no #file-9 there)".to_string(),
                "step3/README.html: ../gone.html (no such file)".to_string(),
                "step3/README.html: ../pic.png (no such file)".to_string(),
            ])
        );
        fs::remove_dir_all(&out).ok();
    }

    fn tempdir() -> PathBuf {
        tempdir_named("pages")
    }

    fn tempdir_named(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-book-test-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).ok();
        dir
    }
}
