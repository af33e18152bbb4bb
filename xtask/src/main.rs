//! The course's tools, in Rust so they run wherever the Rust toolchain does (macOS, Windows,
//! Linux) with nothing else installed. `.cargo/config.toml` makes `cargo xtask` an alias for
//! `cargo run --package xtask --`:
//!
//! ```text
//! cargo xtask lesson-diff 3           # lesson 3: step2-login -> step3-logout, as a diff
//! cargo xtask lesson-diff --stat 3    # the files it changes, with their line counts
//! cargo xtask lesson-diff --files 3   # only the paths of the files it changes
//! cargo xtask lessons                 # the lessons, one per line, in course order
//! cargo xtask prepare                 # before class: build every lesson and its tests once
//! cargo xtask work 2                  # my-step2/: your own copy of step 2, for its exercises
//! cargo xtask check 2.1               # is exercise 2.1 done in my-step2/?
//! cargo xtask solution 2.1            # its reference solution, once you have tried
//! cargo xtask solution 2.1 --apply    # ... applied to my-step2/
//! cargo xtask exercises [--verify]    # the exercises; --verify: each one holds up (CI)
//! cargo xtask book [--check]          # the course as a book in target/book/ (CI: --check)
//! cargo xtask secret                  # a SESSION_SECRET for step 5
//! cargo xtask hash                    # an ADMIN_PASSWORD_HASH for step 5 (reads the password)
//! ```

mod book;
mod diff;
mod exercises;
mod lessons;
mod patch;
mod secrets;
mod work;

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use similar::TextDiff;

use diff::{Content, FileChange};
use lessons::Lesson;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  lesson-diff [--stat|--files] LESSON
      One lesson: the diff from the previous folder to the lesson's, without the READMEs,
      databases and build output, and with the crate's new name in the old files too.
      LESSON is a step's number N (step N-1 -> step N; 1 is all of step 1, the starting
      point) or an add-on's NAME (all of appendix/NAME: its whole crate is its lesson).
      --stat: each file's counts of added and removed lines, then the totals: the
      source's (everything outside tests/), the tests', and all.
      --files: only the paths of the files the lesson changes.
  lessons [--folders]
      The lessons, one per line, in course order: the steps from 2, then the add-ons.
      --folders: each line also gives the previous folder (`-` for an add-on, which is
      shown whole) and the lesson's folder.
  prepare
      Builds every step and appendix, and their tests, once, and local-https and the
      book's renderer: run it before class, and every `cargo run -p <step>` and
      `cargo test -p <step>` after it compiles nothing.
  book [--class-minutes N] [--check]
      The course as a book (mdBook) in target/book/: every page, each lesson's diff in
      colour, and the teacher's guide with each lesson's plan for a class of N minutes
      (default: docs/teachers/README.md's). Fails on a broken link.
      --check (CI): also fails if a diff page does not show what lesson-diff prints.
  secret
      A SESSION_SECRET for step 5: 64 random bytes in base64, on one line.
  hash
      An ADMIN_PASSWORD_HASH for step 5: reads a password (one line of standard input)
      and prints its argon2id hash with OWASP's minimum settings.

exercises (see exercises/README.md):
  work N [--fresh]
      Makes my-stepN/, your own copy of step N to do its exercises in (git ignores it):
      `cd my-stepN`, then `cargo run`, `cargo test`. It never overwrites your work;
      --fresh starts a fresh copy for the next exercise and keeps the one you had
      as my-stepN.old/ (then my-stepN.old-2/, ...).
  check N.K [--verbose]
      Runs exercise N.K's check and every test of my-stepN/, and says whether the
      exercise is done, and if not, what is missing. --verbose: also cargo's whole output.
  solution N.K [--apply]
      The reference solution of exercise N.K, as a diff of my-stepN/. Try first!
      --apply: applies it to my-stepN/ (nothing is written if it does not apply).
  exercises
      Every exercise, and how it is checked.
  exercises --verify [N.K ...]
      For the course's CI: each exercise's check fails on the step as published, its
      solution applies, and with it the check and the step's own tests pass.
  exercises --write-solution N.K
      For exercise authors: writes my-stepN/'s changes as exercise N.K's solution.patch.
";

/// Why the command failed, and its exit code: 2 when it was used wrongly.
struct Failure {
    code: u8,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            code: 1,
            message: format!("error: {message}"),
        }
    }
}

fn usage_error(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = match run(&args) {
        Ok(output) => output,
        Err(failure) => {
            eprintln!("{}", failure.message);
            return ExitCode::from(failure.code);
        }
    };
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // `cargo xtask lesson-diff 5 | head`: the reader has seen enough.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command and returns what it prints.
fn run(args: &[&str]) -> Result<String, Failure> {
    match args {
        [] | ["-h" | "--help" | "help"] => Ok(USAGE.to_string()),
        ["lessons"] => Ok(lesson_list(&find_lessons()?, false)),
        ["secret"] => Ok(secrets::secret()),
        ["hash"] => Ok(secrets::hash(&secrets::read_password()?)?),
        ["lessons", "--folders"] => Ok(lesson_list(&find_lessons()?, true)),
        ["prepare"] => prepare(&find_lessons()?).map(|()| String::new()),
        ["book", rest @ ..] => {
            let mut options = book::Options {
                class_minutes: None,
                check: false,
            };
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match *arg {
                    "--check" => options.check = true,
                    "--class-minutes" => {
                        let minutes = rest.next().and_then(|m| m.parse().ok());
                        let Some(minutes) = minutes.filter(|&m| m > 0) else {
                            return Err(usage_error(
                                "error: --class-minutes needs minutes, like 60",
                            ));
                        };
                        options.class_minutes = Some(minutes);
                    }
                    _ => return Err(usage_error(USAGE)),
                }
            }
            let lessons = find_lessons()?;
            Ok(book::build(
                &root(),
                &lessons,
                &exercises::targets(&lessons),
                &options,
            )?)
        }
        ["work", name] => Ok(exercises::work(&root(), &targets()?, name, false)?),
        ["work", name, "--fresh"] | ["work", "--fresh", name] => {
            Ok(exercises::work(&root(), &targets()?, name, true)?)
        }
        ["check", id] => check(id, false),
        ["check", id, "--verbose"] | ["check", "--verbose", id] => check(id, true),
        ["solution", id] => Ok(exercises::solution(&root(), &targets()?, id)?),
        ["solution", id, "--apply"] | ["solution", "--apply", id] => {
            Ok(exercises::apply_solution(&root(), &targets()?, id)?)
        }
        ["exercises"] => Ok(exercises::list(&root(), &targets()?)?),
        ["exercises", "--verify", only @ ..] => exercises::verify(&root(), &targets()?, only)
            .map_err(|summary| Failure {
                code: 1,
                message: summary,
            }),
        ["exercises", "--write-solution", id] => {
            Ok(exercises::write_solution(&root(), &targets()?, id)?)
        }
        ["lesson-diff", rest @ ..] => {
            let (mode, name) = match rest {
                [name] => (Mode::Diff, name),
                ["--stat", name] => (Mode::Stat, name),
                ["--files", name] => (Mode::Files, name),
                _ => return Err(usage_error(USAGE)),
            };
            let lessons = find_lessons()?;
            let Some(lesson) = lessons.iter().find(|lesson| lesson.name == *name) else {
                let names: Vec<&str> = lessons.iter().map(|l| l.name.as_str()).collect();
                return Err(usage_error(format!(
                    "error: there is no lesson `{name}`; the lessons are: {}",
                    names.join(", ")
                )));
            };
            let changes = diff::changes(&root(), lesson)?;
            Ok(match mode {
                Mode::Diff => unified_diff(lesson, &changes),
                Mode::Stat => stat(&changes),
                Mode::Files => changes.iter().map(|c| format!("{}\n", c.path)).collect(),
            })
        }
        _ => Err(usage_error(USAGE)),
    }
}

/// `check` prints its verdict either way; an exercise not done yet exits with 1.
fn check(id: &str, verbose: bool) -> Result<String, Failure> {
    let (verdict, passed) = exercises::check(&root(), &targets()?, id, verbose)?;
    if passed {
        Ok(verdict)
    } else {
        Err(Failure {
            code: 1,
            message: verdict.trim_end().to_string(),
        })
    }
}

fn targets() -> Result<Vec<exercises::Target>, Failure> {
    Ok(exercises::targets(&find_lessons()?))
}

enum Mode {
    Diff,
    Stat,
    Files,
}

/// The workspace root: this crate's parent folder, wherever `cargo xtask` is run from.
/// `cargo run` names the crate's folder in `CARGO_MANIFEST_DIR` when it starts the tool;
/// that is preferred to the folder the binary was built in, since two checkouts that
/// share a target folder (`CARGO_TARGET_DIR`) also share one `xtask` binary.
fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

fn find_lessons() -> Result<Vec<Lesson>, Failure> {
    Ok(lessons::find(&root())?)
}

/// Builds each lesson's crate (and `local-https`) the two ways a class uses it: `cargo build -p <crate>` (what
/// `cargo run -p` needs) and `cargo test -p <crate> --no-run` (what `cargo test -p` needs).
///
/// Why not one `cargo build --workspace --all-targets`: Cargo picks the features of shared
/// dependencies (tokio, tower-sessions, sqlx, ...) for the packages named in *one* command
/// together. Each step asks for different ones (step 1 has no SQLite, step 5 signs its
/// cookies), so a workspace build makes one set of them and `cargo run -p step1-basic`
/// would then build its own set again, in class. Built one step at a time, every step's set
/// is in `target/` ready. The later builds reuse what the earlier ones made, so this costs
/// little more than one workspace build.
fn prepare(lessons: &[Lesson]) -> Result<(), Failure> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // local-https too: step 5's Safari path starts it, and built in class it would keep
    // the room waiting for its TLS crates.
    let crates: Vec<&str> = lessons
        .iter()
        .map(|lesson| lesson.folder.crate_name.as_str())
        .chain(["local-https"])
        .collect();
    for (n, crate_name) in crates.iter().enumerate() {
        for args in [
            vec!["build", "-p", crate_name],
            vec!["test", "-p", crate_name, "--no-run"],
        ] {
            eprintln!(
                "prepare: [{}/{}] cargo {}",
                n + 1,
                crates.len(),
                args.join(" ")
            );
            let status = std::process::Command::new(&cargo)
                .args(&args)
                .current_dir(root())
                .status()
                .map_err(|err| format!("cannot run cargo: {err}"))?;
            if !status.success() {
                return Err(format!("`cargo {}` failed ({status})", args.join(" ")).into());
            }
        }
    }
    // The book's renderer (mdBook), so that `cargo xtask book` in class compiles nothing.
    eprintln!("prepare: cargo build --manifest-path book/Cargo.toml (the book's renderer)");
    let status = std::process::Command::new(&cargo)
        .arg("build")
        .args(book::renderer_args(&root()))
        .current_dir(root())
        .status()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    if !status.success() {
        return Err(format!("building the book's renderer failed ({status})").into());
    }
    eprintln!("prepare: done; `cargo run -p <step>` and `cargo test -p <step>` are ready");
    Ok(())
}

/// `2`, `3`, ... one per line; with `folders`, `2 step1-basic step2-login`, and for an
/// add-on, which starts from no folder, `demo - appendix/demo`.
fn lesson_list(lessons: &[Lesson], folders: bool) -> String {
    let mut out = String::new();
    for lesson in lessons {
        let previous = match &lesson.previous {
            Some(previous) => previous.path.as_str(),
            None if lesson.folder.path.starts_with("appendix/") => "-",
            // Lesson 1, the starting point.
            None => continue,
        };
        if folders {
            out.push_str(&format!(
                "{} {previous} {}\n",
                lesson.name, lesson.folder.path
            ));
        } else {
            out.push_str(&format!("{}\n", lesson.name));
        }
    }
    out
}

/// The lesson as a unified diff with 3 lines of context, headed like `diff -ruN`'s
/// (`--- step2-login/src/lib.rs`, `+++ step3-logout/src/lib.rs`) without the dates.
fn unified_diff(lesson: &Lesson, changes: &[FileChange]) -> String {
    let mut out = String::new();
    for change in changes {
        let old = match &lesson.previous {
            Some(previous) => format!("{}/{}", previous.path, change.path),
            None => "/dev/null".to_string(),
        };
        let new = format!("{}/{}", lesson.folder.path, change.path);
        match &change.content {
            Content::Text {
                old: before,
                new: after,
            } => {
                let diff = TextDiff::from_lines(before, after);
                let mut hunks = diff.unified_diff();
                hunks.context_radius(3).header(&old, &new);
                out.push_str(&hunks.to_string());
            }
            Content::Binary => {
                out.push_str(&format!("Binary files {old} and {new} differ\n"));
            }
        }
    }
    out
}

/// One line per file, `path +added -removed`, then the totals.
fn stat(changes: &[FileChange]) -> String {
    let mut out = String::new();
    // (removed, added) for the source, everything outside `tests/`, and for the tests: a
    // lesson's source is what a teacher projects, its tests what students read after.
    let (mut source, mut tests) = ((0, 0), (0, 0));
    for change in changes {
        match &change.content {
            Content::Text { old, new } => {
                let (removed, added) = diff::count_changes(old, new);
                let part = if change.path.starts_with("tests/") {
                    &mut tests
                } else {
                    &mut source
                };
                part.0 += removed;
                part.1 += added;
                out.push_str(&format!("{:<32} +{added} -{removed}\n", change.path));
            }
            Content::Binary => {
                out.push_str(&format!("{:<32} (binary)\n", change.path));
            }
        }
    }
    for (name, (removed, added)) in [("source (outside tests/)", source), ("tests/", tests)] {
        out.push_str(&format!(
            "{name:<32} +{added} -{removed} = {}\n",
            added + removed
        ));
    }
    out.push_str(&format!(
        "{} files, +{} -{}, {} changed lines\n",
        changes.len(),
        source.1 + tests.1,
        source.0 + tests.0,
        source.0 + source.1 + tests.0 + tests.1
    ));
    out
}
