//! The exercises at the end of each lesson page, and the commands that check them.
//!
//! Exercise K of lesson N is item K of the "## Exercises" list on the lesson's page
//! (`stepN-*/README.md`, `appendix/NAME/README.md`). Each has either a check, in
//! `exercises/stepN/K-slug/check.rs`, or an answer folded into the page (`<details>`); the
//! folder's `solution.patch` is the reference solution, a unified diff against the lesson's
//! folder. `exercises/README.md` describes the format. A student works in a copy of the
//! folder (`cargo xtask work N`, see [`crate::work`]), where `cargo xtask check N.K` runs
//! the check.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::diff::rename_crate;
use crate::lessons::{Folder, Lesson};
use crate::patch;
use crate::work;

/// A lesson that can have exercises, and where its exercises and the student's copy live.
pub struct Target {
    /// `2`, or an appendix's name.
    pub name: String,
    /// The course's folder: `step2-login`, crate `step2-login`.
    pub folder: Folder,
    /// The student's copy, relative to the root: `my-step2` (also its package name).
    pub copy: String,
    /// The exercises' folder, relative to the root: `exercises/step2`.
    pub exercises: String,
}

impl Target {
    pub fn of(lesson: &Lesson) -> Self {
        let key = if lesson.folder.path.starts_with("step") {
            format!("step{}", lesson.name)
        } else {
            lesson.name.clone()
        };
        Target {
            name: lesson.name.clone(),
            folder: lesson.folder.clone(),
            copy: format!("my-{key}"),
            exercises: format!("exercises/{key}"),
        }
    }

    /// The copy's name in a check run by `--verify`, apart from the student's so the two
    /// never overwrite each other's binary in the shared `target/`.
    fn verify_name(&self) -> String {
        self.copy.replacen("my-", "check-", 1)
    }

    /// Text of the course's folder, renamed for a copy called `new_name`.
    fn rename(&self, text: &str, new_name: &str) -> String {
        rename_crate(text, &self.folder.crate_name, new_name)
    }
}

/// Exercise `K` of a lesson: what its page says, and its folder if it has one.
pub struct Exercise {
    pub id: String,
    pub number: u32,
    /// `exercises/step2/1-username`, if it exists.
    pub folder: Option<PathBuf>,
    pub page: Option<PageItem>,
}

impl Exercise {
    fn check(&self) -> Option<PathBuf> {
        let check = self.folder.as_ref()?.join("check.rs");
        check.is_file().then_some(check)
    }

    fn solution(&self) -> Option<PathBuf> {
        let solution = self.folder.as_ref()?.join("solution.patch");
        solution.is_file().then_some(solution)
    }

    /// `wrong-*.patch` in the folder, in name order: answers that look right but are not,
    /// which `exercises --verify` requires the check to reject.
    fn wrong_answers(&self) -> Vec<PathBuf> {
        let Some(folder) = &self.folder else {
            return Vec::new();
        };
        let Ok(entries) = fs::read_dir(folder) else {
            return Vec::new();
        };
        let mut wrong: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("wrong-") && name.ends_with(".patch"))
            })
            .collect();
        wrong.sort();
        wrong
    }

    /// The file name (without `.rs`) the check gets in the copy's `tests/`: `exercise_2_1`.
    fn test_name(&self) -> String {
        format!("exercise_{}", self.id.replace(['.', '-'], "_"))
    }
}

/// One numbered item of a page's "## Exercises" list.
#[derive(Debug, PartialEq)]
pub struct PageItem {
    pub number: u32,
    /// The bold title, `Count per page.`.
    pub title: String,
    pub text: String,
}

impl PageItem {
    pub fn has_answer(&self) -> bool {
        self.text.contains("<details>")
    }

    /// Every `cargo xtask check ID` the item names.
    fn check_commands(&self) -> Vec<&str> {
        self.text
            .match_indices("cargo xtask check ")
            .map(|(at, command)| {
                self.text[at + command.len()..]
                    .split(|c: char| c == '`' || c.is_whitespace())
                    .next()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// The page's exercises section: the text between `## Exercises` and the next `## `
/// heading, and its numbered items. None when the page has no such section.
pub fn page_section(page: &str) -> Option<(String, Vec<PageItem>)> {
    let mut lines = page
        .lines()
        .skip_while(|line| line.trim() != "## Exercises");
    lines.next()?;
    let section: Vec<&str> = lines.take_while(|line| !line.starts_with("## ")).collect();
    let mut items: Vec<PageItem> = Vec::new();
    for line in &section {
        let number = line
            .split_once(". ")
            .and_then(|(n, _)| n.parse::<u32>().ok());
        match (number, items.last_mut()) {
            (Some(number), _) => {
                let title = line
                    .split("**")
                    .nth(1)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                items.push(PageItem {
                    number,
                    title,
                    text: format!("{line}\n"),
                });
            }
            (None, Some(item)) => {
                item.text.push_str(line);
                item.text.push('\n');
            }
            (None, None) => {}
        }
    }
    Some((section.join("\n"), items))
}

/// The lesson's page has taken up the exercise format: its exercises section tells how to
/// work (`cargo xtask work N`). Pages without it are left out of `--verify`, and said so.
fn page_uses_the_format(section: &str, target: &Target) -> bool {
    section.contains(&format!("cargo xtask work {}", target.name))
}

/// The lesson's exercises: the page's items and the folders, matched by number.
pub fn exercises(root: &Path, target: &Target) -> Result<Vec<Exercise>, String> {
    let page = work::read(&root.join(&target.folder.path).join("README.md"))?;
    let items = page_section(&page)
        .map(|(_, items)| items)
        .unwrap_or_default();
    let mut by_number: BTreeMap<u32, Exercise> = BTreeMap::new();
    for item in items {
        by_number.insert(
            item.number,
            Exercise {
                id: format!("{}.{}", target.name, item.number),
                number: item.number,
                folder: None,
                page: Some(item),
            },
        );
    }
    let dir = root.join(&target.exercises);
    if dir.is_dir() {
        for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(number) = name
                .split_once('-')
                .and_then(|(n, _)| n.parse::<u32>().ok())
            else {
                continue;
            };
            let exercise = by_number.entry(number).or_insert_with(|| Exercise {
                id: format!("{}.{number}", target.name),
                number,
                folder: None,
                page: None,
            });
            if let Some(other) = &exercise.folder {
                return Err(format!(
                    "two folders are exercise {}: {} and {name}",
                    exercise.id,
                    other.display()
                ));
            }
            exercise.folder = Some(entry.path());
        }
    }
    Ok(by_number.into_values().collect())
}

/// `2.1` -> ("2", 1); `several-instances.2` -> ("several-instances", 2).
pub fn parse_id(id: &str) -> Option<(&str, u32)> {
    let (lesson, number) = id.rsplit_once('.')?;
    Some((lesson, number.parse().ok()?))
}

/// The lessons that can have exercises.
pub fn targets(lessons: &[Lesson]) -> Vec<Target> {
    lessons.iter().map(Target::of).collect()
}

fn find_target<'a>(targets: &'a [Target], name: &str) -> Result<&'a Target, String> {
    targets.iter().find(|t| t.name == name).ok_or_else(|| {
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        format!(
            "there is no lesson `{name}`; the lessons are: {}",
            names.join(", ")
        )
    })
}

fn find_exercise(root: &Path, targets: &[Target], id: &str) -> Result<(usize, Exercise), String> {
    let Some((lesson, number)) = parse_id(id) else {
        return Err(format!(
            "`{id}` is not an exercise: write it as STEP.NUMBER, like 2.1"
        ));
    };
    let target = find_target(targets, lesson)?;
    let index = targets
        .iter()
        .position(|t| t.name == target.name)
        .unwrap_or_default();
    exercises(root, target)?
        .into_iter()
        .find(|e| e.number == number)
        .map(|e| (index, e))
        .ok_or_else(|| {
            format!(
                "there is no exercise {id}: see the Exercises of {}/README.md",
                target.folder.path
            )
        })
}

// --- cargo xtask work ----------------------------------------------------------------------

/// `cargo xtask work N [--fresh]`: makes the student's copy of lesson N. Each exercise
/// starts from a fresh copy (each check and each reference solution is made for the step
/// as published), so `--fresh` keeps every earlier copy: `my-step2.old/`, then
/// `my-step2.old-2/`, ... and never refuses.
pub fn work(root: &Path, targets: &[Target], name: &str, fresh: bool) -> Result<String, String> {
    let target = find_target(targets, name)?;
    let copy = root.join(&target.copy);
    let mut moved = String::new();
    if copy.exists() {
        if !fresh {
            return Err(format!(
                "{} already exists, with your work in it: `cd {}` and go on; for the next exercise, `cargo xtask work {name} --fresh` starts a fresh copy and keeps this one as {}/",
                target.copy,
                target.copy,
                folder_name(&kept_copy_path(&copy)),
            ));
        }
        let old = kept_copy_path(&copy);
        fs::rename(&copy, &old).map_err(|e| format!("moving {} aside: {e}", target.copy))?;
        moved = format!("your previous copy is in {}/; ", folder_name(&old));
    }
    work::make_copy(
        root,
        &root.join(&target.folder.path),
        &target.folder.crate_name,
        &copy,
        &target.copy,
        "../target",
    )?;
    // The first exercise with a check; a lesson whose exercises all have their answer on
    // the page has none to suggest.
    let first_checked = exercises(root, target)?
        .into_iter()
        .find(|exercise| exercise.check().is_some())
        .map(|exercise| exercise.id);
    let next = match first_checked {
        Some(id) => format!("check an exercise with `cargo xtask check {id}`"),
        None => format!(
            "its exercises have their answers on {}/README.md",
            target.folder.path
        ),
    };
    Ok(format!(
        "{moved}{copy}/ is your copy of {folder}/, as the package `{copy}`: `cd {copy}`, then `cargo run` and `cargo test`; {next}. Start each exercise from a fresh copy: `cargo xtask work {name} --fresh`\n",
        copy = target.copy,
        folder = target.folder.path,
    ))
}

/// Where `work --fresh` keeps the copy it replaces: `my-step2.old/`, or the first of
/// `my-step2.old-2/`, `my-step2.old-3/`, ... that does not exist yet.
fn kept_copy_path(copy: &Path) -> PathBuf {
    let first = work::old_copy_path(copy);
    let mut n = 2;
    let mut candidate = first.clone();
    while candidate.exists() {
        let mut name = first.file_name().unwrap_or_default().to_os_string();
        name.push(format!("-{n}"));
        candidate = first.with_file_name(name);
        n += 1;
    }
    candidate
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// --- cargo xtask check --------------------------------------------------------------------

/// How one `cargo test` went.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Passed,
    /// Tests failed: their panic messages.
    Failed(Vec<String>),
    /// The compiler's first error.
    DoesNotCompile(String),
    /// Cargo failed some other way: its last words.
    Broken(String),
}

/// What one `cargo test` runs, and whose tests they are.
pub struct TestRun<'a> {
    /// `Some(name)`: only the test file `tests/{name}.rs`; `None`: every test of the copy.
    pub only: Option<&'a str>,
    /// The exercise check's own test functions. A failure of any other test is the step's
    /// own test failing, and the verdict says so (an exercise that changes behaviour a step
    /// test pins must change that test too, and its page names it).
    pub check_tests: &'a [String],
    /// Say on stderr what cargo is doing (building, running): the first build of a fresh
    /// clone takes minutes, and a silent command looks stuck.
    pub progress: bool,
}

/// `cargo test --no-fail-fast` in `dir`, which is a copy with its own `.cargo/config.toml`.
fn cargo_test(dir: &Path, run: &TestRun) -> Result<(Outcome, String), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        // Every test file, even after one fails: a failing step test must not hide the
        // exercise's check, nor the other way round.
        .args(["test", "--no-fail-fast", "--message-format", "short"])
        // The messages are what matters here, not where in the test harness they came from.
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(test) = run.only {
        command.args(["--test", test]);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    // stdout (the tests' report) is read on a thread of its own while stderr (cargo's
    // progress) is followed here: a pipe nobody reads would block cargo once full.
    let stdout_reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            // Not UTF-8 or cut short: what was read is still the best there is.
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        let mut progress = Progress::default();
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if run.progress {
                progress.follow(&line);
            }
            stderr.push_str(&line);
            stderr.push('\n');
        }
    }
    let stdout = stdout_reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    let outcome = if status.success() {
        Outcome::Passed
    } else {
        outcome_of_failure(&stdout, &stderr, run.check_tests)
    };
    Ok((outcome, format!("{stderr}{stdout}")))
}

/// A few lines on stderr about what `cargo test` is doing, from its own progress lines.
#[derive(Default)]
struct Progress {
    /// Crates compiled that are not the copy: the course's dependencies.
    dependencies: usize,
    running: bool,
    waiting: bool,
}

impl Progress {
    fn follow(&mut self, line: &str) {
        let line = line.trim();
        if let Some(what) = line.strip_prefix("Compiling ") {
            let name = what.split(' ').next().unwrap_or_default();
            if name.starts_with("my-") || name.starts_with("check-") {
                eprintln!("  compiling {name}");
                return;
            }
            self.dependencies += 1;
            if self.dependencies == 1 {
                eprintln!(
                    "  building the course's dependencies first: the first time, that takes a few minutes (`cargo xtask prepare` does it ahead)"
                );
            } else if self.dependencies.is_multiple_of(25) {
                eprintln!("  ... {} crates compiled (now {name})", self.dependencies);
            }
        } else if line.starts_with("Blocking waiting for file lock") && !self.waiting {
            self.waiting = true;
            eprintln!("  waiting for another cargo command to finish with the build folder");
        } else if line.starts_with("Running ") && !self.running {
            self.running = true;
            eprintln!("  running the tests");
        }
    }
}

/// What went wrong, from a failed `cargo test --message-format short`'s output.
/// `check_tests` are the exercise check's test functions (see [`TestRun::check_tests`]).
pub fn outcome_of_failure(stdout: &str, stderr: &str, check_tests: &[String]) -> Outcome {
    let messages = panic_messages(stdout, check_tests);
    if !messages.is_empty() {
        return Outcome::Failed(messages);
    }
    let error = stderr.lines().find(|line| {
        (line.contains(": error") || line.starts_with("error"))
            && !line.starts_with("error: could not compile")
            && !line.starts_with("error: test failed")
            && !line.starts_with("error: 1 target failed")
            && !line.contains(" targets failed")
    });
    if let Some(error) = error {
        return Outcome::DoesNotCompile(error.trim().to_string());
    }
    let last: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    Outcome::Broken(last[last.len().saturating_sub(3)..].join(" / "))
}

/// The first line of each test's panic message, as the tests print them
/// (`thread 'name' panicked at tests/x.rs:3:5:` then the message), without the
/// `assertion ... failed:` prefix when the assertion has a message of its own. A test
/// that is not one of `check_tests` (when those are given) is one of the step's own, and
/// its message says so.
pub fn panic_messages(stdout: &str, check_tests: &[String]) -> Vec<String> {
    let lines: Vec<&str> = stdout.lines().collect();
    // (test name, message), so they come out in the same order each time, not in the
    // order the tests happened to finish.
    let mut messages: Vec<(&str, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // `thread 'name' panicked at ...:`, or `thread 'name' (1234) panicked at ...:`.
        if !(line.starts_with("thread '") && line.contains(" panicked at ")) {
            continue;
        }
        let Some(first) = lines.get(i + 1) else {
            continue;
        };
        let mut message = first.trim().to_string();
        for prefix in [
            "assertion `left == right` failed: ",
            "assertion `left != right` failed: ",
        ] {
            if let Some(rest) = message.strip_prefix(prefix) {
                message = rest.to_string();
            }
        }
        // An assertion without a message of its own: its values say what differed.
        if message.starts_with("assertion `left") {
            let values: Vec<&str> = lines[i + 2..]
                .iter()
                .take(2)
                .map(|l| l.trim())
                .filter(|l| l.starts_with("left:") || l.starts_with("right:"))
                .collect();
            message = format!("{message} ({})", values.join(", "));
        }
        let test = line.split('\'').nth(1).unwrap_or_default();
        // `tests/login.rs`'s `foo` is named `foo`; a unit test `module::foo`.
        let function = test.rsplit("::").next().unwrap_or(test);
        if !check_tests.is_empty() && !check_tests.iter().any(|t| t == function) {
            // Its message was written for the step's authors (it may be a whole page of
            // HTML): the verdict names the test and where it is instead.
            let file = line
                .split(" panicked at ")
                .nth(1)
                .and_then(|at| at.split(':').next())
                .unwrap_or("tests/");
            message = format!(
                "the step's test `{test}` ({file}) fails: if the exercise changes what it checks, change it too (the exercise's item on the page names such tests); `cargo test {test}` in the copy shows why"
            );
        }
        if !messages.iter().any(|(_, m)| *m == message) {
            messages.push((test, message));
        }
    }
    messages.sort();
    messages.into_iter().map(|(_, message)| message).collect()
}

/// The test functions of a check file: every `fn name(` after a `#[test]` or
/// `#[tokio::test]` attribute.
pub fn test_functions(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut after_attribute = false;
    for line in source.lines().map(str::trim) {
        if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
            after_attribute = true;
        } else if after_attribute && let Some(at) = line.find("fn ") {
            let rest = &line[at + 3..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
            after_attribute = false;
        }
    }
    names
}

/// The test functions of every `.rs` file under `dir` (`tests/`, with its sub-folders), each
/// with the file it is in, relative to `dir`'s parent: `("logging_out_ends_the_login",
/// "tests/logout.rs")`. A test marked `#[ignore]` is left out: it no longer runs.
fn step_tests(dir: &Path) -> Vec<(String, String)> {
    let Ok(files) = text_files(dir, "tests/") else {
        return Vec::new();
    };
    let mut tests = Vec::new();
    for (path, text) in files {
        if !path.ends_with(".rs") {
            continue;
        }
        let ignored = ignored_tests(&text);
        for name in test_functions(&text) {
            if !ignored.contains(&name) {
                tests.push((name, path.clone()));
            }
        }
    }
    tests
}

/// The test functions of `source` that an `#[ignore]` attribute switches off.
fn ignored_tests(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut ignored = false;
    for line in source.lines().map(str::trim) {
        if line.starts_with("#[ignore") {
            ignored = true;
        } else if ignored && let Some(at) = line.find("fn ") {
            names.push(
                line[at + 3..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
            ignored = false;
        } else if !line.starts_with("#[") && !line.starts_with("//") && !line.is_empty() {
            ignored = false;
        }
    }
    names
}

/// The step's own tests (in the published folder's `tests/`) that the copy no longer runs:
/// deleted, renamed or `#[ignore]`d. An exercise that changes what a step test pins asks
/// for that test to be changed, and a deleted test passes whatever the code does, so
/// `cargo xtask check` counts it as a failure. A test may move to another file.
pub fn missing_step_tests(published: &Path, copy: &Path) -> Vec<String> {
    let kept: Vec<String> = step_tests(&copy.join("tests"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    step_tests(&published.join("tests"))
        .into_iter()
        .filter(|(name, _)| !kept.contains(name))
        .map(|(name, file)| {
            format!(
                "the step's test `{name}` ({file}) is gone or ignored: if the exercise changes what it checks, change the test to expect the new behaviour, do not delete it"
            )
        })
        .collect()
}

/// `cargo test` in a copy (see [`cargo_test`]), with the step's tests that the copy no
/// longer has counted as failures (see [`missing_step_tests`]). What `cargo xtask check`
/// and `--verify`'s known-wrong answers run.
fn grade(published: &Path, dir: &Path, run: &TestRun) -> Result<(Outcome, String), String> {
    // Cargo decides what to rebuild by the files' times: a submission unpacked with times
    // older than the last build of this copy would be shown that build's verdict. Every
    // file of the copy is made newer than any build, so the files as they are now are
    // what gets compiled and tested.
    touch_all(dir)?;
    let (outcome, output) = cargo_test(dir, run)?;
    let missing = missing_step_tests(published, dir);
    if missing.is_empty() {
        return Ok((outcome, output));
    }
    let outcome = match outcome {
        Outcome::Failed(mut messages) => {
            messages.extend(missing);
            Outcome::Failed(messages)
        }
        Outcome::Passed => Outcome::Failed(missing),
        other => other,
    };
    Ok((outcome, output))
}

/// Sets the modification time of every file under `dir` (but `target/` and databases) to now.
fn touch_all(dir: &Path) -> Result<(), String> {
    let now = std::time::SystemTime::now();
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        if work::is_skipped(&entry.file_name().to_string_lossy()) {
            continue;
        }
        if path.is_dir() {
            touch_all(&path)?;
        } else {
            fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(now))
                .map_err(|e| format!("setting the time of {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// `cargo xtask check N.K [--verbose]`: runs exercise N.K's check in the student's copy.
/// Returns the verdict and whether it passed.
pub fn check(
    root: &Path,
    targets: &[Target],
    id: &str,
    verbose: bool,
) -> Result<(String, bool), String> {
    let (index, exercise) = find_exercise(root, targets, id)?;
    let target = &targets[index];
    let Some(check) = exercise.check() else {
        if exercise.page.as_ref().is_some_and(PageItem::has_answer) {
            return Err(format!(
                "exercise {id} has no check: its answer is on its page, {}/README.md (under the exercise, \"Answer\")",
                target.folder.path
            ));
        }
        return Err(format!("exercise {id} has no check yet"));
    };
    let copy = root.join(&target.copy);
    if !copy.join("Cargo.toml").is_file() {
        return Err(format!(
            "there is no {}/ yet: run `cargo xtask work {}` first, then do the exercise there",
            target.copy, target.name
        ));
    }
    let test = exercise.test_name();
    let tests = copy.join("tests");
    fs::create_dir_all(&tests).map_err(|e| format!("{}: {e}", tests.display()))?;
    let file = tests.join(format!("{test}.rs"));
    let source = work::read(&check)?;
    work::write(&file, &target.rename(&source, &target.copy))?;
    eprintln!(
        "checking exercise {id}: `cargo test` in {}/, its tests and the exercise's check ({test}) ...",
        target.copy
    );
    // Every test of the copy, not only the check: an exercise that changes what a step
    // test pins is done only once that test is changed too (the page names those tests).
    let check_tests = test_functions(&source);
    let result = grade(
        &root.join(&target.folder.path),
        &copy,
        &TestRun {
            only: None,
            check_tests: &check_tests,
            progress: true,
        },
    );
    // The check is the course's, not the student's: it never stays in their copy.
    let removed = fs::remove_file(&file);
    let (outcome, output) = result?;
    removed.map_err(|e| format!("removing {}: {e}", file.display()))?;
    if verbose {
        eprintln!("{output}");
    }
    let passed = outcome == Outcome::Passed;
    let mut said = verdict(id, &target.copy, &outcome);
    if passed {
        // The next exercise's check and solution are made for the step as published.
        said.push_str(&format!(
            "for the next exercise, start from a fresh copy: `cargo xtask work {} --fresh` (this one is kept as {}/)\n",
            target.name,
            folder_name(&kept_copy_path(&copy)),
        ));
    }
    Ok((said, passed))
}

/// The one line (or one line per failed test) `check` prints.
pub fn verdict(id: &str, copy: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed => {
            format!("exercise {id} passes: its check and every test of {copy}/ pass\n")
        }
        Outcome::Failed(messages) if messages.len() == 1 => {
            format!("exercise {id} is not done yet: {}\n", messages[0])
        }
        Outcome::Failed(messages) => {
            let mut out = format!("exercise {id} is not done yet:\n");
            for message in messages {
                out.push_str(&format!("  - {message}\n"));
            }
            out
        }
        Outcome::DoesNotCompile(error) => format!(
            "exercise {id} does not compile yet: {error} (`cargo build` in {copy}/ shows every error)\n"
        ),
        Outcome::Broken(what) => format!(
            "exercise {id}: cargo test failed before running the check: {what} (`cargo xtask check {id} --verbose` shows everything)\n"
        ),
    }
}

// --- cargo xtask solution ------------------------------------------------------------------

/// `cargo xtask solution N.K`: the reference solution, as a patch for the student's copy.
pub fn solution(root: &Path, targets: &[Target], id: &str) -> Result<String, String> {
    let (index, exercise) = find_exercise(root, targets, id)?;
    let target = &targets[index];
    if let Some(solution) = exercise.solution() {
        eprintln!(
            "The reference solution of exercise {id}, as a diff of {copy}/ (paths inside it); \
             there are other good ones. `cargo xtask solution {id} --apply` applies it to \
             {copy}/.\n",
            copy = target.copy
        );
        return Ok(target.rename(&work::read(&solution)?, &target.copy));
    }
    if exercise.page.as_ref().is_some_and(PageItem::has_answer) {
        return Ok(format!(
            "The answer to exercise {id} is on its page, {}/README.md: under the exercise, click \"Answer\".\n",
            target.folder.path
        ));
    }
    Err(format!("exercise {id} has no reference solution yet"))
}

/// `cargo xtask solution N.K --apply`: the reference solution applied to the student's
/// copy, with the course's own patch code (no `git` or `patch` needed). Nothing is written
/// unless every file of the patch applies, so a copy the student changed is left as it was.
pub fn apply_solution(root: &Path, targets: &[Target], id: &str) -> Result<String, String> {
    let (index, exercise) = find_exercise(root, targets, id)?;
    let target = &targets[index];
    let Some(solution) = exercise.solution() else {
        return Err(
            if exercise.page.as_ref().is_some_and(PageItem::has_answer) {
                format!(
                    "exercise {id} has no patch to apply: its answer is on its page, {}/README.md",
                    target.folder.path
                )
            } else {
                format!("exercise {id} has no reference solution yet")
            },
        );
    };
    let copy = root.join(&target.copy);
    if !copy.join("Cargo.toml").is_file() {
        return Err(format!(
            "there is no {}/ yet: `cargo xtask work {}` makes it",
            target.copy, target.name
        ));
    }
    let patch = work::read(&solution)?;
    let files = patch::apply_to_folder(&copy, &patch, |text| target.rename(text, &target.copy))
        .map_err(|e| {
            format!(
                "the reference solution does not apply to {copy}/, which is no longer {folder}/ as published ({e}); nothing was changed. To see the solution on a fresh copy: `cargo xtask work {name} --fresh` (your copy is kept as {kept}/), then `cargo xtask solution {id} --apply`",
                copy = target.copy,
                kept = folder_name(&kept_copy_path(&copy)),
                folder = target.folder.path,
                name = target.name,
            )
        })?;
    Ok(format!(
        "applied the reference solution of exercise {id} to {copy}/: {files}\n",
        copy = target.copy,
        files = files.join(", ")
    ))
}

// --- cargo xtask exercises -----------------------------------------------------------------

/// `cargo xtask exercises`: every exercise, one per line, with how it is checked.
pub fn list(root: &Path, targets: &[Target]) -> Result<String, String> {
    let mut rows = Vec::new();
    for target in targets {
        for exercise in exercises(root, target)? {
            let title = exercise.page.as_ref().map_or("", |p| p.title.as_str());
            let how = if exercise.check().is_some() {
                format!("cargo xtask check {}", exercise.id)
            } else if exercise.page.as_ref().is_some_and(PageItem::has_answer) {
                "answer on the page".to_string()
            } else {
                "not checked".to_string()
            };
            rows.push((exercise.id.clone(), title.to_string(), how));
        }
    }
    // Columns as wide as their longest entry (`several-instances.3` is long).
    let id_width = rows.iter().map(|(id, ..)| id.len()).max().unwrap_or(0);
    let title_width = rows
        .iter()
        .map(|(_, title, _)| title.len())
        .max()
        .unwrap_or(0);
    Ok(rows
        .iter()
        .map(|(id, title, how)| format!("{id:<id_width$}  {title:<title_width$}  {how}\n"))
        .collect())
}

/// What is wrong with a lesson's exercises as its page and folders describe them, before
/// anything is built: one line per problem.
pub fn layout_problems(target: &Target, section: &str, exercises: &[Exercise]) -> Vec<String> {
    let mut problems = Vec::new();
    let page = format!("{}/README.md", target.folder.path);
    if !section.contains(&format!("cd {}", target.copy)) {
        problems.push(format!(
            "{page}: the Exercises section says `cargo xtask work {}` but not `cd {}`",
            target.name, target.copy
        ));
    }
    for (expected, exercise) in (1..).zip(exercises) {
        let id = &exercise.id;
        if exercise.number != expected {
            problems.push(format!(
                "exercise {id}: numbered {} where {expected} was expected",
                exercise.number
            ));
        }
        let Some(item) = &exercise.page else {
            problems.push(format!(
                "exercise {id}: {} has no item {} on {page}",
                exercise
                    .folder
                    .as_ref()
                    .map_or(String::new(), |f| f.display().to_string()),
                exercise.number
            ));
            continue;
        };
        let commands = item.check_commands();
        for command in &commands {
            if command != id {
                problems.push(format!(
                    "exercise {id}: its item on {page} says `cargo xtask check {command}`"
                ));
            }
        }
        let names_check = commands.contains(&id.as_str());
        match (exercise.check(), names_check, item.has_answer()) {
            (Some(_), true, _) => {}
            (Some(_), false, _) => problems.push(format!(
                "exercise {id}: it has a check, but its item on {page} does not say `cargo xtask check {id}`"
            )),
            (None, true, _) => problems.push(format!(
                "exercise {id}: {page} says `cargo xtask check {id}`, but there is no {}/{}-*/check.rs",
                target.exercises, exercise.number
            )),
            (None, false, true) => {}
            (None, false, false) => problems.push(format!(
                "exercise {id}: neither a check ({}/{}-*/check.rs) nor an answer (<details>) on {page}",
                target.exercises, exercise.number
            )),
        }
        if exercise.folder.is_some() && exercise.solution().is_none() {
            problems.push(format!("exercise {id}: its folder has no solution.patch"));
        }
        // A check is trusted only as far as it is shown to reject answers that look right:
        // at least two, one per kind of mistake the page invites.
        let wrong = exercise.wrong_answers().len();
        if exercise.check().is_some() && wrong < 2 {
            problems.push(format!(
                "exercise {id}: its check has {wrong} known-wrong answer{} (wrong-*.patch), at least 2 are needed",
                if wrong == 1 { "" } else { "s" }
            ));
        }
        if exercise.check().is_some() && exercise.solution().is_none() && !item.has_answer() {
            problems.push(format!("exercise {id}: a check, but no reference solution"));
        }
    }
    problems
}

/// `cargo xtask exercises --verify [ID...]`: every exercise holds up. For each one with a
/// folder, in a fresh copy of its lesson's folder under `target/exercise-check/`:
/// its check compiles and fails (with messages) on the folder as published; its solution
/// applies; with the solution, the check and all the folder's own tests pass.
pub fn verify(root: &Path, targets: &[Target], only: &[&str]) -> Result<String, String> {
    let started = Instant::now();
    let mut problems: Vec<String> = Vec::new();
    let mut summary = String::new();
    let (mut verified, mut answers) = (0, 0);
    for target in targets {
        let page = work::read(&root.join(&target.folder.path).join("README.md"))?;
        // Every lesson's page has exercises, and every one of them can be checked.
        let Some((section, _)) = page_section(&page) else {
            problems.push(format!(
                "{}/README.md has no `## Exercises` section",
                target.folder.path
            ));
            continue;
        };
        if !page_uses_the_format(&section, target) {
            problems.push(format!(
                "{}/README.md: its exercises do not say how to work on them (`cargo xtask work {}`)",
                target.folder.path, target.name
            ));
            continue;
        }
        let exercises = exercises(root, target)?;
        problems.extend(layout_problems(target, &section, &exercises));
        for exercise in &exercises {
            if !only.is_empty() && !only.contains(&exercise.id.as_str()) {
                continue;
            }
            if exercise.folder.is_none() || exercise.solution().is_none() {
                answers += 1;
                continue;
            }
            let started = Instant::now();
            match verify_one(root, target, exercise) {
                Ok(what) => {
                    verified += 1;
                    let line = format!(
                        "exercise {}: {what} ({:.0} s)\n",
                        exercise.id,
                        started.elapsed().as_secs_f64()
                    );
                    // Progress as it goes; the summary only counts them.
                    eprint!("{line}");
                }
                Err(problem) => {
                    let line = format!("exercise {}: {problem}", exercise.id);
                    eprintln!("FAIL: {line}");
                    problems.push(line);
                }
            }
        }
    }
    summary.push_str(&format!(
        "{verified} exercises verified, {answers} answered on their pages, in {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(format!(
            "{summary}exercises verification FAILED:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// One exercise through its whole life, in a fresh copy at `target/exercise-check/<name>/`.
/// The lesson's exercises take turns in the same folder: to Cargo it is the same package
/// each time, so each build replaces the last one's files in `target/` instead of adding
/// its own, and incremental compilation reuses what did not change.
fn verify_one(root: &Path, target: &Target, exercise: &Exercise) -> Result<String, String> {
    let name = target.verify_name();
    let dir = root.join("target").join("exercise-check").join(&name);
    let test = exercise.test_name();
    let check_source = match exercise.check() {
        Some(check) => Some(target.rename(&work::read(&check)?, &name)),
        None => None,
    };
    let check_tests = check_source
        .as_deref()
        .map(test_functions)
        .unwrap_or_default();
    // A fresh copy of the folder as published, with the check (if any) in its tests.
    let fresh_copy = || -> Result<(), String> {
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        work::make_copy(
            root,
            &root.join(&target.folder.path),
            &target.folder.crate_name,
            &dir,
            &name,
            "../../../target",
        )?;
        if let Some(source) = &check_source {
            work::write(&dir.join("tests").join(format!("{test}.rs")), source)?;
        }
        Ok(())
    };
    let apply = |patch_file: &Path| -> Result<Vec<String>, String> {
        let patch = work::read(patch_file)?;
        patch::apply_to_folder(&dir, &patch, |text| target.rename(text, &name)).map_err(|e| {
            format!(
                "{} does not apply to {}/: {e}",
                patch_file.file_name().unwrap_or_default().to_string_lossy(),
                target.folder.path
            )
        })
    };
    fresh_copy()?;
    let mut done = Vec::new();
    let mut rejections: Vec<String> = Vec::new();

    if check_source.is_some() {
        let run = TestRun {
            only: Some(&test),
            check_tests: &check_tests,
            progress: false,
        };
        match cargo_test(&dir, &run)?.0 {
            Outcome::Failed(messages) => done.push(format!(
                "its check fails unsolved ({} message{})",
                messages.len(),
                if messages.len() == 1 { "" } else { "s" }
            )),
            Outcome::Passed => return Err("its check passes before the exercise is done".into()),
            Outcome::DoesNotCompile(error) => {
                return Err(format!(
                    "its check does not compile against {}/ as published, so a student would see a compiler error instead of what is missing: {error}",
                    target.folder.path
                ));
            }
            Outcome::Broken(what) => return Err(format!("cargo test failed: {what}")),
        }

        // Known-wrong answers (`wrong-*.patch`: answers students gave that look right but
        // are not): each must fail `cargo xtask check` as a student runs it, which is
        // every test of the copy with the check among them.
        for wrong in exercise.wrong_answers() {
            let file = wrong
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            fresh_copy()?;
            apply(&wrong)?;
            let run = TestRun {
                only: None,
                check_tests: &check_tests,
                progress: false,
            };
            match grade(&root.join(&target.folder.path), &dir, &run)?.0 {
                Outcome::Failed(messages) => {
                    done.push(format!("{file} fails it"));
                    // What a student handing in that answer reads.
                    rejections.push(format!("  {file}: {}", messages.join(" / ")));
                }
                Outcome::Passed => {
                    return Err(format!(
                        "the known-wrong answer {file} passes the check: the check must reject it"
                    ));
                }
                Outcome::DoesNotCompile(error) => {
                    return Err(format!(
                        "the known-wrong answer {file} does not compile, so it proves nothing about the check: {error}"
                    ));
                }
                Outcome::Broken(what) => {
                    return Err(format!("with {file}, cargo test failed: {what}"));
                }
            }
        }
        if !exercise.wrong_answers().is_empty() {
            fresh_copy()?;
        }
    }

    let solution = exercise.solution().ok_or("it has no solution.patch")?;
    let files = apply(&solution)?;
    done.push(format!(
        "its solution applies ({} file{})",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    ));

    let run = TestRun {
        only: None,
        check_tests: &check_tests,
        progress: false,
    };
    match grade(&root.join(&target.folder.path), &dir, &run)?.0 {
        Outcome::Passed => done.push(if check_source.is_some() {
            "with it the check and the step's tests pass".to_string()
        } else {
            "with it the step's tests pass".to_string()
        }),
        Outcome::Failed(messages) => {
            return Err(format!(
                "with its solution, tests fail: {}",
                messages.join("; ")
            ));
        }
        Outcome::DoesNotCompile(error) => {
            return Err(format!("with its solution, it does not compile: {error}"));
        }
        Outcome::Broken(what) => {
            return Err(format!("with its solution, cargo test failed: {what}"));
        }
    }
    // The reference is the code a student is shown to imitate: formatted, and clean of
    // the lints the course holds its own code to. The check file is not the student's.
    if check_source.is_some() {
        let check_file = dir.join("tests").join(format!("{test}.rs"));
        fs::remove_file(&check_file).map_err(|e| format!("{}: {e}", check_file.display()))?;
    }
    // rustfmt orders `use` lines by name, and the copy's crate name is not the course's:
    // formatting is checked in a copy under the course's own name, where a line is in
    // the order it has on the page.
    let same_name = root
        .join("target")
        .join("exercise-check")
        .join(format!("{name}-fmt"));
    if same_name.exists() {
        fs::remove_dir_all(&same_name).map_err(|e| format!("{}: {e}", same_name.display()))?;
    }
    work::make_copy(
        root,
        &root.join(&target.folder.path),
        &target.folder.crate_name,
        &same_name,
        &target.folder.crate_name,
        "../../../target",
    )?;
    patch::apply_to_folder(&same_name, &work::read(&solution)?, |text| text.to_string())?;
    let formatted = style_problem(&same_name, &["fmt", "--check", "--", "--color", "never"]);
    fs::remove_dir_all(&same_name).map_err(|e| format!("{}: {e}", same_name.display()))?;
    formatted
        .map_err(|e| format!("its solution is not rustfmt-clean (`cargo fmt --check`): {e}"))?;
    style_problem(
        &dir,
        &[
            "clippy",
            "--all-targets",
            "--color",
            "never",
            "--",
            "-D",
            "warnings",
        ],
    )
    .map_err(|e| format!("its solution has clippy warnings: {e}"))?;
    done.push("it is rustfmt- and clippy-clean".to_string());
    let mut said = done.join(", ");
    for rejection in rejections {
        said.push('\n');
        said.push_str(&rejection);
    }
    Ok(said)
}

/// `cargo ARGS` in `dir`: Err with the first lines it printed when it fails.
fn style_problem(dir: &Path, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with("Checking"))
        .take(12)
        .collect();
    Err(lines.join("\n    "))
}

/// `cargo xtask exercises --write-solution N.K`: for exercise authors, the student's copy
/// `my-stepN/` as it is now, written as the exercise's `solution.patch` (a diff against the
/// course's folder, with the course's crate name). The copy's own additions (its workspace
/// tables, `.cargo/`, `Cargo.lock`, a check left in `tests/`) and the page are left out.
pub fn write_solution(root: &Path, targets: &[Target], id: &str) -> Result<String, String> {
    let (index, exercise) = find_exercise(root, targets, id)?;
    let target = &targets[index];
    let Some(folder) = &exercise.folder else {
        return Err(format!(
            "exercise {id} has no folder: make {}/{}-SLUG/ first",
            target.exercises, exercise.number
        ));
    };
    let copy = root.join(&target.copy);
    if !copy.is_dir() {
        return Err(format!(
            "there is no {}/ to make the solution from",
            target.copy
        ));
    }
    let course = text_files(&root.join(&target.folder.path), "")?;
    let mut solved = BTreeMap::new();
    for (path, text) in text_files(&copy, "")? {
        let skip = path == "Cargo.lock"
            || path.starts_with(".cargo/")
            || (path.starts_with("tests/exercise_") && path.ends_with(".rs"));
        if skip {
            continue;
        }
        let text = if path == "Cargo.toml" {
            let own = work::step_manifest_of(&text);
            let own = match course.get("Cargo.toml") {
                Some(published) => work::published_paths(own, published),
                None => own.to_string(),
            };
            format!("{}\n", own.trim_end())
        } else {
            text
        };
        solved.insert(
            path,
            rename_crate(&text, &target.copy, &target.folder.crate_name),
        );
    }
    let patch = patch::make(&course, &solved);
    if patch.is_empty() {
        return Err(format!(
            "{}/ is the same as {}/: nothing to write",
            target.copy, target.folder.path
        ));
    }
    let out = folder.join("solution.patch");
    work::write(&out, &patch)?;
    Ok(format!("wrote {}\n", out.display()))
}

/// Every text file under `dir` but build output, databases and the page: path -> text.
fn text_files(dir: &Path, prefix: &str) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if work::is_skipped(&name) || (prefix.is_empty() && name == "README.md") {
            continue;
        }
        let path = format!("{prefix}{name}");
        if entry.path().is_dir() {
            files.extend(text_files(&entry.path(), &format!("{path}/"))?);
        } else if let Ok(text) = fs::read_to_string(entry.path()) {
            files.insert(path, text);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ignored_step_test_counts_as_gone() {
        let source = "#[tokio::test]\n#[ignore]\nasync fn a() {}\n\n#[test]\nfn b() {}\n#[ignore = \"slow\"]\n#[test]\nfn c() {}\n";
        assert_eq!(test_functions(source), ["a", "b", "c"]);
        assert_eq!(ignored_tests(source), ["a", "c"]);
    }

    const PAGE: &str = "\
# Step 2

## Exercises

Work in your own copy: `cargo xtask work 2`, then `cd my-step2`.

1. **Remember the username.** Show it. Check: `cargo xtask check 2.1`
2. **Why?** Explain.
   <details><summary>Answer</summary>

   Because.
   </details>
3. **Redirect.** Check: `cargo xtask check 2.3`

## What the next step fixes

4. Not an exercise.
";

    #[test]
    fn the_page_s_exercises_are_the_numbered_items_of_its_exercises_section() {
        let (section, items) = page_section(PAGE).expect("has a section");
        assert!(section.contains("cargo xtask work 2"));
        assert!(!section.contains("next step"));
        let numbers: Vec<u32> = items.iter().map(|i| i.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(items[0].title, "Remember the username.");
        assert_eq!(items[0].check_commands(), ["2.1"]);
        assert!(!items[0].has_answer());
        assert!(items[1].has_answer(), "{}", items[1].text);
        assert!(items[1].check_commands().is_empty());
        assert_eq!(page_section("# No exercises\n"), None);
    }

    #[test]
    fn exercise_ids_are_the_lesson_and_the_number() {
        assert_eq!(parse_id("2.1"), Some(("2", 1)));
        assert_eq!(
            parse_id("several-instances.3"),
            Some(("several-instances", 3))
        );
        assert_eq!(parse_id("2"), None);
        assert_eq!(parse_id("2.x"), None);
    }

    #[test]
    fn the_verdict_quotes_the_assertion_messages() {
        let stdout = "\
running 2 tests
test a ... FAILED
test b ... FAILED

failures:

---- a stdout ----

thread 'a' panicked at tests/exercise_2_1.rs:10:5:
GET /about should count its own visits: expected 'About visits: 2'
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

---- b stdout ----

thread 'b' panicked at tests/exercise_2_1.rs:20:5:
assertion `left == right` failed: GET /profile without a login should answer 401
  left: 404
 right: 401
";
        let outcome = outcome_of_failure(
            stdout,
            "error: test failed, to rerun pass `--test exercise_2_1`",
            &[],
        );
        assert_eq!(
            outcome,
            Outcome::Failed(vec![
                "GET /about should count its own visits: expected 'About visits: 2'".into(),
                "GET /profile without a login should answer 401".into(),
            ])
        );
        assert_eq!(
            verdict("2.1", "my-step2", &outcome),
            "exercise 2.1 is not done yet:\n  - GET /about should count its own visits: expected 'About visits: 2'\n  - GET /profile without a login should answer 401\n"
        );
    }

    #[test]
    fn an_assertion_without_a_message_shows_its_values() {
        let stdout = "thread 'a' (42) panicked at tests/x.rs:1:1:\nassertion `left == right` failed\n  left: 1\n right: 2\n";
        assert_eq!(
            panic_messages(stdout, &[]),
            ["assertion `left == right` failed (left: 1, right: 2)"]
        );
    }

    #[test]
    fn a_compile_error_is_the_first_error_line() {
        let stderr = "\
   Compiling my-step2 v0.1.0
src/lib.rs:3:5: warning: unused import
src/routes/auth.rs:40:9: error[E0425]: cannot find value `user` in this scope
src/routes/auth.rs:41:9: error[E0308]: mismatched types
error: could not compile `my-step2` (lib) due to 2 previous errors
";
        assert_eq!(
            outcome_of_failure("", stderr, &[]),
            Outcome::DoesNotCompile(
                "src/routes/auth.rs:40:9: error[E0425]: cannot find value `user` in this scope"
                    .into()
            )
        );
    }

    #[test]
    fn a_failing_step_test_is_named_as_the_step_s() {
        let stdout = "\
thread 'logging_in_with_the_form_opens_the_dashboard' panicked at tests/login.rs:30:5:
the dashboard greets user 1
thread 'the_dashboard_greets_the_user_by_name' panicked at tests/exercise_2_1.rs:20:5:
expected 'Welcome admin'
";
        let check_tests = test_functions(
            "#[tokio::test]\nasync fn the_dashboard_greets_the_user_by_name() {}\n#[test]\nfn other() {}\nfn helper() {}\n",
        );
        assert_eq!(
            check_tests,
            ["the_dashboard_greets_the_user_by_name", "other"]
        );
        let messages = panic_messages(stdout, &check_tests);
        assert_eq!(messages.len(), 2);
        assert!(
            messages[0].starts_with(
                "the step's test `logging_in_with_the_form_opens_the_dashboard` (tests/login.rs) fails"
            ),
            "{messages:?}"
        );
        assert_eq!(messages[1], "expected 'Welcome admin'");
    }
}
