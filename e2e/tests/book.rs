//! The course as a book (`cargo xtask book`) in a real browser, opened from its files as a
//! teacher opens it, without a server: lesson 3's diff page shows the lesson in colour, side
//! by side; lesson 3's page draws its mermaid diagram. Each test keeps a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use e2e::{Browser, Chromedriver, TIMEOUT};
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
    let driver = Chromedriver::start().await;
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
    // The first changed lines of a Rust file in view, for the screenshot.
    browser
        .client()
        .execute(
            "const rust = Array.from(document.querySelectorAll('.file-diff[data-lang=rust]'))\
                 .find((f) => f.querySelector('table.split td.c.ins'));\
             rust.querySelector('table.split td.c.ins').scrollIntoView({block: 'center'});",
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
    let driver = Chromedriver::start().await;
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
    browser
        .client()
        .execute(
            "document.querySelector('pre.mermaid').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .expect("the page runs a script");
    browser.screenshot("book-lesson3-page").await;
    browser.click_link("Lesson 3's diff").await;
    browser
        .wait_for_text("prints, in colour: from step2-login to step3-logout")
        .await;
}
