//! The course as a book (`cargo xtask book`) in a real browser, opened from its files as a
//! teacher opens it, without a server, at a projector's size: 1280 × 800, and the same
//! screen at the guide's 125 % zoom (laid out as 1024 × 640). Every kind of page is opened
//! (a lesson's page, a diff, a whole crate's code, a page of the teacher's guide, the
//! schedule, the print version) and its rendering measured, not only its text: the code has
//! room for its lines, a wrapped line never starts again at column 0, the text is the
//! projector's size, the bar above the files stays in view. The screenshot of lesson 3's diff
//! is the top page's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use e2e::{Browser, Driver, TIMEOUT};
use serde_json::Value;

/// Builds the book once for the tests of this file and returns its folder.
fn book() -> &'static Path {
    static BOOK: OnceLock<PathBuf> = OnceLock::new();
    BOOK.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the e2e crate is a folder of the workspace");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args(["run", "--quiet", "-p", "xtask", "--", "book"])
            .current_dir(root)
            .output()
            .unwrap_or_else(|err| panic!("cannot run cargo xtask book: {err}"));
        assert!(
            output.status.success(),
            "cargo xtask book failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        root.join("target").join("book")
    })
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Runs `script` in the page until it returns `true`; fails with `what` after [`TIMEOUT`].
async fn wait_until(browser: &Browser, script: &str, what: &str) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < deadline {
        if let Ok(Value::Bool(true)) = browser.client().execute(script, vec![]).await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "waited {TIMEOUT:?} for {what} at {}; the page says:\n{}",
        browser.url().await,
        browser.text().await
    );
}

#[tokio::test]
async fn lesson_3s_diff_page_shows_the_lesson_in_colour_side_by_side() {
    // Arrange
    let page = book().join("diffs").join("3.html");
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act
    browser.goto(&file_url(&page)).await;
    browser.click_button("Side by side").await;

    // Assert: the lesson's files are listed, its route is there, removed and added lines
    // sit side by side, and the code has its syntax colours.
    browser.wait_for_text("Lesson 3's diff").await;
    browser.wait_for_text("src/routes/auth.rs").await;
    browser
        .wait_for_text(".route(\"/logout\", post(logout))")
        .await;
    wait_until(
        &browser,
        "const split = document.querySelector('.file-diff table.split');\
         return split !== null && getComputedStyle(split).display === 'table' \
             && getComputedStyle(document.querySelector('.file-diff table.unified')).display === 'none';",
        "the side-by-side tables to be shown instead of the unified ones",
    )
    .await;
    wait_until(
        &browser,
        "return document.querySelector('.file-diff td.c.ins .hljs-keyword') !== null \
             && document.querySelector('.file-diff td.c.del') !== null;",
        "syntax colours in the added lines, beside removed ones",
    )
    .await;
    wait_until(
        &browser,
        "const added = document.querySelector('.file-diff table.split td.c.ins');\
         return getComputedStyle(added).backgroundColor !== getComputedStyle(document.body).backgroundColor;",
        "added lines to have their own background colour",
    )
    .await;
    // The screenshot shows what a 1280-pixel projector shows: "Fit the window", which is
    // unified there, with the first changed lines of a Rust file in view.
    browser.click_button("Fit the window").await;
    wait_until(
        &browser,
        "return getComputedStyle(document.querySelector('.file-diff table.unified')).display === 'table';",
        "the unified tables, which fit a 1280-pixel window",
    )
    .await;
    browser
        .client()
        .execute(
            "const rust = Array.from(document.querySelectorAll('.file-diff[data-lang=rust]'))\
                 .find((f) => f.querySelector('table.unified tr.ins'));\
             rust.querySelector('table.unified tr.ins').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .expect("the page runs a script");
    browser.screenshot("book-lesson3-diff").await;
}

#[tokio::test]
async fn lesson_3s_page_draws_its_diagram_and_links_to_its_diff() {
    // Arrange
    let page = book().join("step3-logout").join("README.html");
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act
    browser.goto(&file_url(&page)).await;

    // Assert: the page is there, its sequence diagram is drawn (an SVG, not the diagram's
    // source text), and the contents lead to the lesson's diff.
    browser.wait_for_text("What you will learn").await;
    wait_until(
        &browser,
        "return document.querySelector('pre.mermaid svg') !== null;",
        "mermaid to draw the lesson's diagram",
    )
    .await;
    let drawn = browser
        .client()
        .execute(
            "return document.querySelector('pre.mermaid svg').getAttribute('aria-roledescription');",
            vec![],
        )
        .await
        .expect("the page runs a script");
    assert_eq!(
        drawn,
        Value::String("sequence".into()),
        "the lesson's diagram should be drawn as a sequence diagram, but mermaid drew {drawn} \
         (\"error\": its source has a syntax error; a `;` in a message ends the line for \
         mermaid, write it `#59;`)"
    );
    assert!(
        !browser.text().await.contains("sequenceDiagram"),
        "the diagram's source text should not be shown once it is drawn"
    );
    browser.click_link("Lesson 3's diff").await;
    browser
        .wait_for_text("prints, in colour: from step2-login to step3-logout")
        .await;
}

/// A projector: [`e2e::WIDTH`] × [`e2e::HEIGHT`] CSS pixels, and the same screen at the
/// teacher's guide's 125 % zoom, which lays pages out as a 1024 × 640 window does.
const PROJECTOR: [(u32, u32, &str); 2] = [
    (e2e::WIDTH, e2e::HEIGHT, "1280 x 800"),
    (1024, 640, "1280 x 800 at 125 %"),
];

/// The fewest columns of code a projected line must have room for: fewer, and most lines of
/// the course wrap.
const MIN_COLUMNS: f64 = 60.0;

/// Measures the code of the page's diff tables as drawn: for the visible tables, how many
/// characters of the code's font a line of the code column holds, and every wrapped line
/// whose continuation starts at or left of its own code (column 0, or its indentation).
/// Returns `{tables, cells, columns, wrapped, badWraps: [...]}`.
const MEASURE_DIFF: &str = r#"
    const visible = (el) => el.getClientRects().length > 0;
    const tables = Array.from(document.querySelectorAll('.file-diff table')).filter(visible);
    let columns = Infinity, cells = 0, wrapped = 0;
    const badWraps = [];
    for (const table of tables) {
        const first = table.querySelector('tr:not(.hunk) td.c');
        if (!first) continue;
        const style = getComputedStyle(first);
        const probe = document.createElement('span');
        probe.textContent = '0'.repeat(100);
        probe.style.cssText = 'position:absolute;visibility:hidden;white-space:pre';
        probe.style.font = style.font;
        document.body.appendChild(probe);
        const ch = probe.getBoundingClientRect().width / 100;
        probe.remove();
        for (const cell of table.querySelectorAll('tr:not(.hunk) td.c')) {
            if (!visible(cell)) continue;
            cells++;
            const cs = getComputedStyle(cell);
            const box = cell.getBoundingClientRect();
            // The code's room on its first line: from where that line starts to the padding.
            const start = box.left + parseFloat(cs.paddingLeft) + parseFloat(cs.textIndent);
            const room = (box.right - parseFloat(cs.paddingRight) - start) / ch;
            columns = Math.min(columns, room);
            const lineHeight = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.2;
            if (box.height < lineHeight * 1.5) continue;
            wrapped++;
            const range = document.createRange();
            range.selectNodeContents(cell);
            const lines = new Map();
            for (const rect of range.getClientRects()) {
                if (rect.width === 0) continue;
                const line = Math.round((rect.top - box.top) / lineHeight);
                lines.set(line, Math.min(lines.get(line) ?? Infinity, rect.left));
            }
            const text = cell.textContent;
            const indent = text.length - text.trimStart().length;
            const code = start + indent * ch;
            for (const [line, left] of lines) {
                if (line > 0 && left < code + ch - 1) {
                    badWraps.push(text.slice(0, 60));
                    break;
                }
            }
        }
    }
    return {tables: tables.length, cells, columns: Math.floor(columns), wrapped, badWraps: badWraps.slice(0, 5)};
"#;

/// Opens `page` at each projector size and asserts its diff tables are readable there.
async fn assert_code_is_readable(browser: &Browser, page: &Path, min_tables: u64) {
    for (width, height, size) in PROJECTOR {
        browser.set_viewport(width, height).await;
        browser.goto(&file_url(page)).await;
        wait_until(
            browser,
            "return document.documentElement.dataset.diffHighlighted === 'true';",
            "the diff page's code to be coloured",
        )
        .await;
        let measured = browser
            .client()
            .execute(MEASURE_DIFF, vec![])
            .await
            .expect("the page runs a script");
        let tables = measured["tables"].as_u64().unwrap_or(0);
        assert!(
            tables >= min_tables,
            "{} at {size}: {tables} code tables visible, expected at least {min_tables}",
            page.display()
        );
        let columns = measured["columns"].as_f64().unwrap_or(0.0);
        assert!(
            columns >= MIN_COLUMNS,
            "{} at {size}: the narrowest code column holds {columns} characters a line, \
             fewer than {MIN_COLUMNS} (a hidden column that moved the code into a narrow one?)",
            page.display()
        );
        assert_eq!(
            measured["badWraps"],
            Value::Array(vec![]),
            "{} at {size}: these wrapped lines go on at column 0 or left of their code, as if \
             a new statement began",
            page.display()
        );
    }
    browser.set_viewport(e2e::WIDTH, e2e::HEIGHT).await;
}

#[tokio::test]
async fn lesson_5s_diff_is_readable_on_a_projector_and_keeps_its_bar_in_view() {
    // Arrange
    let page = book().join("diffs").join("5.html");
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act and assert: at both projector sizes, "Fit the window" shows the unified tables
    // (side by side would leave each side fewer than 80 columns), the code has room, and
    // its long lines wrap under themselves.
    assert_code_is_readable(&browser, &page, 10).await;
    wait_until(
        &browser,
        "return getComputedStyle(document.querySelector('.file-diff table.unified')).display === 'table' \
             && getComputedStyle(document.querySelector('.file-diff table.split')).display === 'none';",
        "\"Fit the window\" to pick the unified layout on a 1280-pixel projector",
    )
    .await;
    // Lesson 5 has long lines: some do wrap, so the hanging indent was measured, not skipped.
    let measured = browser
        .client()
        .execute(MEASURE_DIFF, vec![])
        .await
        .expect("the page runs a script");
    assert!(
        measured["wrapped"].as_u64().unwrap_or(0) > 0,
        "no line of lesson 5 wraps at 1280 pixels: the check of wrapped lines checked nothing"
    );

    // Assert: mdBook's chevrons do not cover the code; the bar stays at the top of the
    // window in the middle of the page, and leads back to the list of files.
    let chevrons = browser
        .client()
        .execute(
            "return Array.from(document.querySelectorAll('.nav-chapters'))\
                 .filter((a) => a.getClientRects().length > 0).length;",
            vec![],
        )
        .await
        .expect("the page runs a script");
    assert_eq!(
        chevrons,
        Value::from(0),
        "the previous/next chevrons should be off a diff page: they cover its line numbers"
    );
    browser
        .client()
        .execute(
            "document.querySelectorAll('h2.diff-file')[8].scrollIntoView();",
            vec![],
        )
        .await
        .expect("the page runs a script");
    wait_until(
        &browser,
        "const bar = document.querySelector('.diff-controls').getBoundingClientRect();\
         return bar.top >= 0 && bar.top < 120 && bar.bottom > bar.top;",
        "the bar above the files to stay at the top of the window",
    )
    .await;
    browser.click_link("↑ The list of files").await;
    wait_until(
        &browser,
        "const list = document.getElementById('diff-files').getBoundingClientRect();\
         return list.top >= 0 && list.top < window.innerHeight;",
        "the list of files to be in view again",
    )
    .await;
}

#[tokio::test]
async fn whole_code_pages_are_readable_on_a_projector() {
    // Arrange
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act and assert: step 1's code and an add-on's crate, shown whole, hold their lines in
    // a wide column (a table whose hidden cells moved the code into the marker's column
    // shows it a few characters a line).
    for page in [
        book().join("diffs").join("1.html"),
        book().join("diffs").join("login-throttling.html"),
    ] {
        assert_code_is_readable(&browser, &page, 3).await;
    }
}

#[tokio::test]
async fn the_lesson_page_the_guide_and_the_schedule_read_on_a_projector() {
    // Arrange
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    let pages = [
        book().join("step3-logout").join("README.html"),
        book().join("docs").join("teachers").join("lesson-5.html"),
        book().join("docs").join("teachers").join("schedule.html"),
    ];

    for (width, height, size) in PROJECTOR {
        browser.set_viewport(width, height).await;
        for page in &pages {
            // Act
            browser.goto(&file_url(page)).await;

            // Assert: the text is the projector's size, not mdBook's 16 px; code blocks and
            // tables fit the page (nothing runs off to the right).
            let measured = browser
                .client()
                .execute(
                    "const main = document.querySelector('main');\
                     const code = Array.from(main.querySelectorAll('pre code'))\
                         .filter((c) => c.getClientRects().length > 0)\
                         .map((c) => c.getBoundingClientRect().width);\
                     const wide = Array.from(main.querySelectorAll('table'))\
                         .filter((t) => t.getBoundingClientRect().right > window.innerWidth + 1).length;\
                     return {text: parseFloat(getComputedStyle(main.querySelector('p')).fontSize),\
                             narrowestCode: code.length ? Math.min(...code) : null, tablesOff: wide};",
                    vec![],
                )
                .await
                .expect("the page runs a script");
            let text = measured["text"].as_f64().unwrap_or(0.0);
            assert!(
                text >= 17.0,
                "{} at {size}: body text is {text} px, not the projector's 17.6 px \
                 (course.css's font size lost to mdBook's)",
                page.display()
            );
            if let Some(code) = measured["narrowestCode"].as_f64() {
                assert!(
                    code >= 500.0,
                    "{} at {size}: a code block is {code} px wide",
                    page.display()
                );
            }
            assert_eq!(
                measured["tablesOff"],
                Value::from(0),
                "{} at {size}: a table runs off the right edge of the window",
                page.display()
            );
        }
    }

    // The lesson's diagram is drawn with labels a room can read.
    browser.set_viewport(e2e::WIDTH, e2e::HEIGHT).await;
    browser.goto(&file_url(&pages[0])).await;
    wait_until(
        &browser,
        "return document.querySelector('pre.mermaid svg text') !== null;",
        "mermaid to draw the lesson's diagram",
    )
    .await;
    let label = browser
        .client()
        .execute(
            "const text = document.querySelector('pre.mermaid svg text.messageText') \
                 || document.querySelector('pre.mermaid svg text');\
             return text.getBoundingClientRect().height;",
            vec![],
        )
        .await
        .expect("the page runs a script");
    // 14 px at least with the sidebar open (mermaid scales a wide diagram to the column; with
    // the sidebar closed its labels are 18 px); mdBook's column and mermaid's 16 px gave 11.
    assert!(
        label.as_f64().unwrap_or(0.0) >= 14.0,
        "the diagram's labels are {label} px high: too small for a projector"
    );

    // The guide's answers are folded: the room sees the question, not its answer.
    browser.goto(&file_url(&pages[1])).await;
    browser.wait_for_text("Questions to ask").await;
    let folded = browser
        .client()
        .execute(
            "const answers = Array.from(document.querySelectorAll('main details'));\
             return answers.length > 0 && answers.every((d) => !d.open);",
            vec![],
        )
        .await
        .expect("the page runs a script");
    assert_eq!(
        folded,
        Value::Bool(true),
        "the guide's answers should be folded"
    );
    browser.wait_for_text("Class A, the session's life").await;
    browser.goto(&file_url(&pages[2])).await;
    browser.wait_for_text("The add-ons (optional)").await;
}

#[tokio::test]
async fn the_print_version_leaves_the_teachers_guide_out() {
    // Arrange
    let page = book().join("print.html");
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act
    browser.goto(&file_url(&page)).await;

    // Assert: the students' pages are there, the guide's notes and answers are not.
    browser.wait_for_text("Step 3 — logging out").await;
    browser
        .wait_for_text("The teacher's guide is not in the print version")
        .await;
    // The page's own text, without the contents in the sidebar (which lists every page).
    let text = browser
        .client()
        .execute("return document.querySelector('main').innerText;", vec![])
        .await
        .expect("the page runs a script");
    let text = text.as_str().unwrap_or_default();
    for guide in [
        "Three points to stress",
        "Questions to ask",
        "The course's schedule",
    ] {
        assert!(
            !text.contains(guide),
            "the print version should not hold the teacher's guide, but it shows {guide:?}"
        );
    }
}
