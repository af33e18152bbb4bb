//! The teacher's guide of the book, from `docs/teachers/`: kept apart from the students'
//! pages, in the repository and in the book (its own part, "For teachers").
//!
//! - `docs/teachers/README.md`: how to use the guide; its `<!-- class-minutes: 60 -->` is the
//!   class length the plans are made for, unless `cargo xtask book --class-minutes N` says
//!   otherwise.
//! - `docs/teachers/lesson-NAME.md`, one per lesson (`lesson-3.md`, `lesson-session-cache.md`):
//!   what to stress, what to ask, where students go wrong. It opens with its minutes, in a
//!   comment that GitHub does not show, one block per class (a lesson too big for one class
//!   has two, each named: `<!-- plan: A, the session's life`):
//!
//!   ```text
//!   <!-- plan
//!   demo: 10
//!   diff: 20
//!   questions: 5
//!   exercises: 3.1 15, 3.2 10
//!   files: src/routes/auth.rs, src/lib.rs
//!   -->
//!   ```
//!
//!   `files` (optional) are the files of the lesson's diff that the class projects, in the
//!   order to show them; the diff page lists them first. Without it, the class projects every
//!   file of the diff but the tests.
//!
//! From those numbers this module writes each lesson's plan for its classes (the exercises
//! fill the time that is left, in order, and those that do not fit are homework) and the
//! schedule of the whole course, with a warning where a plan gives the diff more changed lines
//! a minute than a teacher can show ([`MAX_LINES_PER_MINUTE`]); and from each exercise's
//! `check.rs` it lists what the check tells a student who got it wrong. Nothing of that is
//! typed twice, so nothing drifts.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::exercises::{self, Target};
use crate::lessons::Lesson;

/// Where the guide's files are, in the repository and in the book.
pub const FOLDER: &str = "docs/teachers/";

/// One page of the guide: its path in the book, title, text, and depth in the contents.
pub type Page = (String, String, String, usize);

/// The most changed lines a minute a teacher can walk a room through on a projected diff:
/// one every two seconds, read out and explained. A plan above it is rushed, and the
/// schedule and the lesson's page say so.
pub const MAX_LINES_PER_MINUTE: usize = 30;

/// One class's minutes, as a `<!-- plan -->` block gives them.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// The class's name, for a lesson taught in more than one (`A, the session's life`).
    pub title: Option<String>,
    pub demo: u32,
    pub diff: u32,
    pub questions: u32,
    /// Each exercise's id and minutes, in the order to do them.
    pub exercises: Vec<(String, u32)>,
    /// The files of the lesson's diff the class projects, in order; empty: all but `tests/`.
    pub files: Vec<String>,
}

/// A plan laid out in a class of some length.
#[derive(Debug, PartialEq)]
pub struct Class {
    /// The exercises done in class, with their minutes.
    pub in_class: Vec<(String, u32)>,
    /// Those left for after class.
    pub homework: Vec<String>,
    /// Minutes left over: questions from the room, or a late start.
    pub spare: u32,
    /// Minutes that demo, diff and questions need beyond the class: the lesson does not fit.
    pub over: u32,
}

/// The plan fitted into `class_minutes`: exercises in their order while they fit.
pub fn fit(plan: &Plan, class_minutes: u32) -> Class {
    let fixed = plan.demo + plan.diff + plan.questions;
    let mut left = class_minutes.saturating_sub(fixed);
    let mut in_class = Vec::new();
    let mut homework = Vec::new();
    for (id, minutes) in &plan.exercises {
        // In order: once one does not fit, the ones after it are homework too, so that
        // students meet them in the order the page gives.
        if homework.is_empty() && *minutes <= left {
            left -= minutes;
            in_class.push((id.clone(), *minutes));
        } else {
            homework.push(id.clone());
        }
    }
    Class {
        in_class,
        homework,
        spare: left,
        over: fixed.saturating_sub(class_minutes),
    }
}

/// Reads a lesson file's `<!-- plan ... -->` blocks, one per class, in order.
pub fn parse_plans(text: &str) -> Result<Vec<Plan>, String> {
    let mut plans = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<!-- plan") {
        let block = &rest[start + "<!-- plan".len()..];
        let end = block
            .find("-->")
            .ok_or("its `<!-- plan` block has no `-->`")?;
        plans.push(parse_block(&block[..end])?);
        rest = &block[end + 3..];
    }
    if plans.is_empty() {
        return Err("it has no `<!-- plan` block with its minutes".into());
    }
    Ok(plans)
}

/// One block, from just after `<!-- plan` to just before `-->`.
fn parse_block(block: &str) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let (first, lines) = block.split_once('\n').unwrap_or((block, ""));
    if let Some(title) = first.trim().strip_prefix(':') {
        plan.title = Some(title.trim().to_string()).filter(|t| !t.is_empty());
    } else if !first.trim().is_empty() {
        return Err(format!(
            "`<!-- plan{first}`: a class's name goes after a colon, `<!-- plan: A, its name`"
        ));
    }
    for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("`{line}` in its plan is not `key: minutes`"))?;
        let minutes = |value: &str| {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("`{line}` in its plan: `{}` is not minutes", value.trim()))
        };
        match key.trim() {
            "demo" => plan.demo = minutes(value)?,
            "diff" => plan.diff = minutes(value)?,
            "questions" => plan.questions = minutes(value)?,
            "exercises" => {
                for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let (id, m) = item.split_once(' ').ok_or_else(|| {
                        format!(
                            "`{item}` in its plan's exercises is not `ID MINUTES`, like `3.1 15`"
                        )
                    })?;
                    plan.exercises.push((id.to_string(), minutes(m)?));
                }
            }
            "files" => plan.files.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(String::from),
            ),
            other => return Err(format!("its plan has an unknown line `{other}`")),
        }
    }
    Ok(plan)
}

/// The files a lesson's classes project, in the order their plans give them (each once):
/// its diff page shows them first. Empty for a lesson whose plans name none.
pub fn projected_order(root: &Path, lesson: &Lesson) -> Result<Vec<String>, String> {
    let file = format!("lesson-{}.md", lesson.name);
    let path = root.join("docs").join("teachers").join(&file);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(&path).map_err(|e| format!("docs/teachers/{file}: {e}"))?;
    let mut order: Vec<String> = Vec::new();
    for plan in parse_plans(&text).map_err(|e| format!("docs/teachers/{file}: {e}"))? {
        for f in plan.files {
            if !order.contains(&f) {
                order.push(f);
            }
        }
    }
    Ok(order)
}

/// The changed lines a class projects: its `files`, or every file of the diff but the tests.
/// `sizes` are the lesson's files with their changed lines (added and removed).
fn projected_lines(plan: &Plan, sizes: &[(String, usize)]) -> Result<usize, String> {
    if plan.files.is_empty() {
        return Ok(sizes
            .iter()
            .filter(|(path, _)| !path.starts_with("tests/"))
            .map(|(_, lines)| lines)
            .sum());
    }
    let mut total = 0;
    for file in &plan.files {
        let (_, lines) = sizes.iter().find(|(path, _)| path == file).ok_or_else(|| {
            format!("its plan projects `{file}`, which the lesson's diff does not change")
        })?;
        total += lines;
    }
    Ok(total)
}

/// Changed lines a minute of diff, rounded up; all of them when the plan gives no minute.
fn per_minute(lines: usize, minutes: u32) -> usize {
    if minutes == 0 {
        lines
    } else {
        lines.div_ceil(minutes as usize)
    }
}

/// `<!-- class-minutes: 60 -->` in the guide's README.
fn default_class_minutes(readme: &str) -> Result<u32, String> {
    let start = readme
        .find("<!-- class-minutes:")
        .ok_or("docs/teachers/README.md has no `<!-- class-minutes: N -->`")?;
    let rest = &readme[start + "<!-- class-minutes:".len()..];
    let end = rest.find("-->").unwrap_or(rest.len());
    rest[..end]
        .trim()
        .parse()
        .map_err(|_| "docs/teachers/README.md: `class-minutes` is not a number".to_string())
}

fn clock(minutes: u32) -> String {
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

/// The guide's pages: its README, the schedule, then one page per lesson. `sizes` holds,
/// for each lesson, the files its diff page shows with their changed lines.
pub fn guide(
    root: &Path,
    lessons: &[Lesson],
    targets: &[Target],
    class_minutes: Option<u32>,
    sizes: &[Vec<(String, usize)>],
) -> Result<Vec<Page>, String> {
    let dir = root.join("docs").join("teachers");
    let readme = fs::read_to_string(dir.join("README.md"))
        .map_err(|e| format!("docs/teachers/README.md: {e}"))?;
    let class = match class_minutes {
        Some(minutes) => minutes,
        None => default_class_minutes(&readme)?,
    };
    check_no_stray_files(&dir, lessons)?;

    let mut lesson_pages = Vec::new();
    // The course's rows and the add-ons' (optional), and how many classes each has.
    let (mut rows, mut add_on_rows) = (Vec::new(), Vec::new());
    let (mut classes, mut add_on_classes) = (0, 0);
    let mut rushed = Vec::new();
    for ((lesson, target), sizes) in lessons.iter().zip(targets).zip(sizes) {
        let add_on = lesson.folder.path.starts_with("appendix/");
        let (table, count) = if add_on {
            (&mut add_on_rows, &mut add_on_classes)
        } else {
            (&mut rows, &mut classes)
        };
        let file = format!("lesson-{}.md", lesson.name);
        let path = dir.join(&file);
        if !path.is_file() {
            table.push(format!(
                "| {} | no plan yet (`docs/teachers/{file}`) | | | | |",
                lesson.name
            ));
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| format!("docs/teachers/{file}: {e}"))?;
        let plans = parse_plans(&text).map_err(|e| format!("docs/teachers/{file}: {e}"))?;
        let all = exercises::exercises(root, target)?;
        let mut classes_of_lesson = Vec::new();
        for plan in &plans {
            for (id, _) in &plan.exercises {
                if !all.iter().any(|e| &e.id == id) {
                    return Err(format!(
                        "docs/teachers/{file} plans exercise {id}, but {}/README.md has no such exercise",
                        lesson.folder.path
                    ));
                }
            }
            let lines =
                projected_lines(plan, sizes).map_err(|e| format!("docs/teachers/{file}: {e}"))?;
            let fitted = fit(plan, class);
            let exercise_minutes: u32 = fitted.in_class.iter().map(|(_, m)| m).sum();
            let total = plan.demo + plan.diff + plan.questions + exercise_minutes + fitted.spare;
            let rate = per_minute(lines, plan.diff);
            let name = match &plan.title {
                Some(title) => format!("{} {title}", lesson.name),
                None => lesson.name.clone(),
            };
            if rate > MAX_LINES_PER_MINUTE {
                rushed.push(format!("[{name}](lesson-{}.md)", lesson.name));
            }
            table.push(format!(
                "| [{name}](lesson-{}.md) | {} · {} · {} | {}{} | {} | {} | **{}**{} |",
                lesson.name,
                plan.demo,
                plan.diff,
                plan.questions,
                rate,
                if rate > MAX_LINES_PER_MINUTE {
                    " (too fast!)"
                } else {
                    ""
                },
                if fitted.in_class.is_empty() {
                    "none".to_string()
                } else {
                    fitted
                        .in_class
                        .iter()
                        .map(|(id, minutes)| format!("{id} ({minutes})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                fitted.spare,
                total,
                if fitted.over > 0 { " (too long!)" } else { "" }
            ));
            *count += 1;
            classes_of_lesson.push((plan, fitted, lines));
        }
        let page = lesson_page(root, lesson, target, &text, &classes_of_lesson, class)?;
        let title = super::title(&page).unwrap_or_else(|| format!("Lesson {}", lesson.name));
        lesson_pages.push((format!("docs/teachers/{file}"), title, page, 1));
    }

    let header = "| Class | Demo · diff · questions | Lines a minute | Exercises in class | Spare | Total |\n\
                  | --- | :---: | ---: | --- | ---: | ---: |\n";
    let mut schedule = format!(
        "# The course's schedule\n\n\
         Made by `cargo xtask book` from the minutes in each lesson's notes (`docs/teachers/lesson-*.md`), \
         for classes of **{class} minutes** (`cargo xtask book --class-minutes N` makes the book for \
         another length). Each row is one class: demo, then the diff, then questions (their \
         minutes), then the exercises that fit (each with its minutes); \"spare\" is what is \
         left. A lesson too big for one class has two rows. \"Lines a minute\" is the changed lines of the files the class projects, \
         divided by the diff's minutes: above {MAX_LINES_PER_MINUTE} (one line every two \
         seconds, read and explained) the room cannot follow, and the row says \"too fast!\".\n\n\
         ## The course\n\n{header}"
    );
    for row in &rows {
        let _ = writeln!(schedule, "{row}");
    }
    let _ = writeln!(
        schedule,
        "\n**{classes} {} of {class} minutes: {} hours of teaching.**",
        if classes == 1 { "class" } else { "classes" },
        format_hours(classes * class),
    );
    if !add_on_rows.is_empty() {
        let _ = write!(
            schedule,
            "\n## The add-ons (optional)\n\n\
             For a class that has finished lesson 5 and wants more, in any order: none of them is \
             needed for another.\n\n{header}"
        );
        for row in &add_on_rows {
            let _ = writeln!(schedule, "{row}");
        }
        let _ = writeln!(
            schedule,
            "\nThe add-ons, all of them: {add_on_classes} {} more, {} hours.",
            if add_on_classes == 1 {
                "class"
            } else {
                "classes"
            },
            format_hours(add_on_classes * class),
        );
    }
    if !rushed.is_empty() {
        let _ = writeln!(
            schedule,
            "\n**Too fast**: {} {} the diff more than {MAX_LINES_PER_MINUTE} changed lines a minute. \
             Give the diff more minutes, project fewer files (the plan's `files:`), or teach the \
             lesson in two classes.",
            rushed.join(", "),
            if rushed.len() == 1 { "gives" } else { "give" },
        );
    }

    let mut pages = vec![
        (
            "docs/teachers/README.md".to_string(),
            super::title(&readme).unwrap_or_else(|| "The teacher's guide".into()),
            readme.clone(),
            0,
        ),
        (
            "docs/teachers/schedule.md".to_string(),
            "The course's schedule".to_string(),
            schedule,
            1,
        ),
    ];
    pages.extend(lesson_pages);
    Ok(pages)
}

fn format_hours(minutes: u32) -> String {
    if minutes.is_multiple_of(60) {
        (minutes / 60).to_string()
    } else {
        format!("{:.1}", f64::from(minutes) / 60.0)
    }
}

/// A `lesson-X.md` for a lesson that does not exist is a plan left behind by a rename.
fn check_no_stray_files(dir: &Path, lessons: &[Lesson]) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(lesson) = name
            .strip_prefix("lesson-")
            .and_then(|n| n.strip_suffix(".md"))
        else {
            continue;
        };
        if !lessons.iter().any(|l| l.name == lesson) {
            return Err(format!(
                "docs/teachers/{name} is for a lesson `{lesson}` that the course does not have"
            ));
        }
    }
    Ok(())
}

/// A lesson's page of the guide: its title, the plan for each of its classes, the
/// teacher's notes, then what the exercise checks catch.
fn lesson_page(
    root: &Path,
    lesson: &Lesson,
    target: &Target,
    text: &str,
    classes: &[(&Plan, Class, usize)],
    class_minutes: u32,
) -> Result<String, String> {
    // The plan blocks are for this program; the page starts after them.
    let mut body = text.trim_start();
    while body.starts_with("<!-- plan") {
        match body.find("-->") {
            Some(end) => body = body[end + 3..].trim_start(),
            None => break,
        }
    }
    let (heading, rest) = match body.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => (first, rest),
        _ => ("", body),
    };
    let lesson_page = format!("../../{}/README.md", lesson.folder.path);
    let diff_page = format!("../../{}", super::diff_page_path(lesson));
    let mut page = String::new();
    if !heading.is_empty() {
        let _ = writeln!(page, "{heading}\n");
    }
    let diff_label = if lesson.previous.is_some() && !lesson.folder.path.starts_with("appendix/") {
        format!("lesson {}'s diff", lesson.name)
    } else {
        format!("{}'s code, whole", lesson.folder.path)
    };
    let _ = writeln!(
        page,
        "The students' page: [{}]({lesson_page}); the diff to project: [{diff_label}]({diff_page}).\n",
        lesson.folder.path,
    );
    let all = exercises::exercises(root, target)?;
    let checked = |id: &str| {
        all.iter()
            .find(|e| e.id == id)
            .and_then(|e| e.folder.as_ref())
            .is_some_and(|folder| folder.join("check.rs").is_file())
    };
    let title_of = |id: &str| {
        all.iter()
            .find(|e| e.id == id)
            .and_then(|e| e.page.as_ref())
            .map(|p| p.title.trim_end_matches('.').to_string())
            .unwrap_or_default()
    };
    for (plan, class, lines) in classes {
        match &plan.title {
            Some(title) => {
                let _ = writeln!(page, "## Class {title}: {class_minutes} minutes\n");
            }
            None => {
                let _ = writeln!(page, "## The class: {class_minutes} minutes\n");
            }
        }
        if class.over > 0 {
            let _ = writeln!(
                page,
                "**Too long for one class of {class_minutes} minutes**: the demo, the diff and the \
                 questions alone take {} minutes more. Make the book for a longer class \
                 (`cargo xtask book --class-minutes 90`) or spread the diff over two classes.\n",
                class.over
            );
        }
        let rate = per_minute(*lines, plan.diff);
        if rate > MAX_LINES_PER_MINUTE {
            let _ = writeln!(
                page,
                "**Too fast for the room**: {lines} changed lines in {} minutes of diff is {rate} a \
                 minute, more than the {MAX_LINES_PER_MINUTE} a teacher can show. Give the diff \
                 more minutes, project fewer files, or teach the lesson in two classes.\n",
                plan.diff
            );
        }
        let _ = writeln!(page, "| From | Minutes | What |\n| --- | ---: | --- |");
        let mut at = 0;
        let mut row = |page: &mut String, minutes: u32, what: String| {
            if minutes > 0 {
                let _ = writeln!(page, "| {} | {minutes} | {what} |", clock(at));
                at += minutes;
            }
        };
        row(
            &mut page,
            plan.demo,
            format!(
                "Demo: run `cargo run -p {}` and show the lesson in the browser, as its page does",
                lesson.folder.crate_name
            ),
        );
        let files = if plan.files.is_empty() {
            "every file but the tests".to_string()
        } else {
            plan.files
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        row(
            &mut page,
            plan.diff,
            format!(
                "The diff, projected: [{diff_label}]({diff_page}), {files} ({lines} changed lines, {rate} a minute)"
            ),
        );
        row(
            &mut page,
            plan.questions,
            "Questions to the room (below)".to_string(),
        );
        for (id, minutes) in &class.in_class {
            row(
                &mut page,
                *minutes,
                if checked(id) {
                    format!("Exercise {id}, {} (`cargo xtask check {id}`)", title_of(id))
                } else {
                    format!(
                        "Exercise {id}, {} (its answer is on the page)",
                        title_of(id)
                    )
                },
            );
        }
        row(
            &mut page,
            class.spare,
            "Spare: questions from the room, or a late start".to_string(),
        );
        let _ = writeln!(page, "| {} | | end |\n", clock(at));
        if !class.homework.is_empty() {
            let _ = writeln!(
                page,
                "Homework (no time left in class): {}.\n",
                class
                    .homework
                    .iter()
                    .map(|id| format!("{id}, {}", title_of(id)))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    page.push_str(rest.trim_start());
    page.push('\n');

    let mut caught = String::new();
    for exercise in &all {
        let Some(folder) = &exercise.folder else {
            continue;
        };
        let check = folder.join("check.rs");
        let Ok(source) = fs::read_to_string(&check) else {
            continue;
        };
        let messages = check_messages(&source);
        if messages.is_empty() {
            continue;
        }
        let _ = writeln!(
            caught,
            "- **{} {}**: the check says, when it fails:",
            exercise.id,
            title_of(&exercise.id)
        );
        for message in messages {
            let _ = writeln!(caught, "  - {message}");
        }
    }
    if !caught.is_empty() {
        let _ = writeln!(
            page,
            "\n## What the exercise checks catch\n\n\
             Read from each exercise's `check.rs` when the book was built: the messages a \
             student sees from `cargo xtask check`, each one a mistake the check was written \
             for (`…` stands for what the student's code answered).\n\n{caught}"
        );
    }
    Ok(page)
}

/// The messages of a check's `assert!`s, `assert_eq!`s and `panic!`s, in order, with each
/// `{}` placeholder shown as `…`. A message that is only placeholders is left out.
pub fn check_messages(source: &str) -> Vec<String> {
    let mut messages = Vec::new();
    for (mac, message_arg) in [
        ("assert!(", 1),
        ("assert_eq!(", 2),
        ("assert_ne!(", 2),
        ("panic!(", 0),
    ] {
        let mut rest = source;
        while let Some(i) = rest.find(mac) {
            let at = source.len() - rest.len() + i;
            rest = &rest[i + mac.len()..];
            let args = top_level_args(rest);
            if let Some(message) = args.get(message_arg).and_then(|a| string_literal(a)) {
                let message = placeholders(&message);
                if message.chars().any(|c| c.is_alphabetic()) {
                    messages.push((at, message));
                }
            }
        }
    }
    messages.sort();
    messages.into_iter().map(|(_, m)| m).collect()
}

/// The arguments of a macro call whose text starts just after its `(`, split at top-level
/// commas, up to its closing `)`.
fn top_level_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                current.push(c);
                while let Some(s) = chars.next() {
                    current.push(s);
                    if s == '\\' {
                        if let Some(escaped) = chars.next() {
                            current.push(escaped);
                        }
                    } else if s == '"' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ')' | ']' | '}' if depth == 0 => break,
            ')' | ']' | '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        args.push(current);
    }
    args.into_iter().map(|a| a.trim().to_string()).collect()
}

/// The text of a plain string literal (`"..."`), with its escapes and line continuations
/// worked out; `None` for anything else.
fn string_literal(arg: &str) -> Option<String> {
    let inner = arg.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push(' '),
            Some('\n') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

/// `{}`, `{status}`, `{:?}` shown as `…`; `{{` and `}}` as braces.
fn placeholders(message: &str) -> String {
    let mut out = String::new();
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                for inner in chars.by_ref() {
                    if inner == '}' {
                        break;
                    }
                }
                out.push('…');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(exercises: &[(&str, u32)]) -> Plan {
        Plan {
            title: None,
            files: Vec::new(),
            demo: 10,
            diff: 20,
            questions: 5,
            exercises: exercises.iter().map(|(i, m)| (i.to_string(), *m)).collect(),
        }
    }

    #[test]
    fn exercises_fill_the_time_left_in_order_and_the_rest_is_homework() {
        let class = fit(&plan(&[("3.1", 15), ("3.2", 15), ("3.3", 5)]), 60);
        assert_eq!(class.in_class, vec![("3.1".to_string(), 15)]);
        assert_eq!(class.homework, vec!["3.2".to_string(), "3.3".to_string()]);
        assert_eq!(class.spare, 10);
        assert_eq!(class.over, 0);
        let longer = fit(&plan(&[("3.1", 15), ("3.2", 15), ("3.3", 5)]), 90);
        assert_eq!(longer.in_class.len(), 3);
        assert_eq!(longer.spare, 20);
    }

    #[test]
    fn a_lesson_longer_than_the_class_says_by_how_much() {
        let class = fit(&plan(&[("5.1", 10)]), 30);
        assert_eq!(class.over, 5);
        assert!(class.in_class.is_empty());
        assert_eq!(class.homework, vec!["5.1".to_string()]);
    }

    #[test]
    fn the_plan_block_gives_the_minutes() {
        let text = "<!-- plan\ndemo: 10\ndiff: 20\nquestions: 5\nexercises: 3.1 15, 3.2 10\n-->\n# Lesson 3\n";
        assert_eq!(
            parse_plans(text),
            Ok(vec![plan(&[("3.1", 15), ("3.2", 10)])])
        );
        assert!(parse_plans("# no plan\n").is_err());
        assert!(parse_plans("<!-- plan\ndemo: ten\n-->").is_err());
        assert!(parse_plans("<!-- plan\nlunch: 10\n-->").is_err());
        assert!(parse_plans("<!-- planned\ndemo: 10\n-->").is_err());
    }

    #[test]
    fn a_lesson_in_two_classes_has_two_named_plans_with_their_files() {
        let text = "<!-- plan: A, the session's life\ndemo: 10\ndiff: 20\nfiles: src/a.rs, src/b.rs\n-->\n\
                    <!-- plan: B, the request's\ndiff: 25\nfiles: src/a.rs, src/c.rs\n-->\n# Lesson 5\n";
        let plans = parse_plans(text).expect("two plans");
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].title.as_deref(), Some("A, the session's life"));
        assert_eq!(plans[0].files, vec!["src/a.rs", "src/b.rs"]);
        assert_eq!(plans[1].title.as_deref(), Some("B, the request's"));
        assert_eq!(plans[1].diff, 25);
    }

    #[test]
    fn a_class_projects_its_files_or_everything_but_the_tests() {
        let sizes = vec![
            ("src/a.rs".to_string(), 100),
            ("src/b.rs".to_string(), 50),
            ("tests/a.rs".to_string(), 400),
        ];
        assert_eq!(projected_lines(&plan(&[]), &sizes), Ok(150));
        let only_a = Plan {
            files: vec!["src/a.rs".into()],
            ..plan(&[])
        };
        assert_eq!(projected_lines(&only_a, &sizes), Ok(100));
        let missing = Plan {
            files: vec!["src/gone.rs".into()],
            ..plan(&[])
        };
        assert!(projected_lines(&missing, &sizes).is_err());
        // 150 lines in the plan's 20 minutes of diff: 8 a minute, rounded up.
        assert_eq!(per_minute(150, 20), 8);
        assert!(per_minute(1000, 20) > MAX_LINES_PER_MINUTE);
    }

    #[test]
    fn a_checks_messages_are_read_with_placeholders_shown() {
        let source = r#"
            assert!(
                page.status == 401,
                "POST /x without a login should answer 401, but it answers {}",
                page.status
            );
            assert!(logout.starts_with("HTTP/1.1 200"), "{logout}");
            assert_eq!(a, b, "the count should be {expected:?}, \
                              not {a}");
            panic!("no cookie in {headers:?}");
        "#;
        assert_eq!(
            check_messages(source),
            vec![
                "POST /x without a login should answer 401, but it answers …",
                "the count should be …, not …",
                "no cookie in …",
            ]
        );
    }
}
