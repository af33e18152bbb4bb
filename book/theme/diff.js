// The diff pages (target/book/diffs/*.html): syntax colours for the code in the diff tables,
// the buttons that choose side by side or unified, side by side only where it fits, and a
// hanging indent for wrapped lines. Every page loads this script; it does nothing where
// there is no diff.
(function () {
    "use strict";
    const KEY = "course-book-diff-layout";
    /// Columns of code each side of a side-by-side table needs: a wider line wraps.
    const COLUMNS = 80;

    // "Fit the window": side by side when each side has room for COLUMNS characters of the
    // tables' own font, beside its line numbers; unified otherwise. Measured, because the
    // answer depends on the font, the zoom and whether the sidebar is open.
    function fit() {
        const file = document.querySelector(".file-diff");
        const cell = document.querySelector(".file-diff td.c");
        if (!file || !cell) {
            return;
        }
        const style = getComputedStyle(cell);
        const probe = document.createElement("span");
        probe.textContent = "0".repeat(COLUMNS);
        probe.style.cssText = "position:absolute;visibility:hidden;white-space:pre";
        probe.style.fontFamily = style.fontFamily;
        probe.style.fontSize = style.fontSize;
        file.appendChild(probe);
        const code = probe.getBoundingClientRect().width;
        probe.remove();
        const em = parseFloat(style.fontSize);
        // Per side: the line numbers (3.6em), the cell's padding (1em) and the code.
        const side = code + 4.6 * em;
        document.documentElement.dataset.fit = file.clientWidth >= 2 * side ? "split" : "unified";
    }

    // Each code cell's own indentation, for the hanging indent of its wrapped lines
    // (course.css: `--i`).
    function indent() {
        for (const cell of document.querySelectorAll(".file-diff td.c")) {
            const spaces = cell.textContent.length - cell.textContent.trimStart().length;
            if (spaces > 0) {
                cell.style.setProperty("--i", String(spaces));
            }
        }
    }

    function setLayout(layout) {
        if (layout === "split" || layout === "unified") {
            document.documentElement.dataset.layout = layout;
        } else {
            delete document.documentElement.dataset.layout;
            layout = "auto";
        }
        try {
            localStorage.setItem(KEY, layout);
        } catch (e) {
            // A browser that keeps nothing for file:// pages: the choice lasts for this page.
        }
        document.querySelectorAll(".diff-controls button").forEach((button) => {
            button.setAttribute("aria-pressed", String(button.dataset.layout === layout));
        });
    }

    // Colours one table with the book's highlight.js (10.x: highlight(language, code,
    // ignoreIllegals, continuation)). Each side of the diff is highlighted line after line
    // with the state the previous line left, so that a comment or string over several lines
    // stays coloured; a hunk starts afresh. A context line of a unified table belongs to
    // both sides: its colours come from the new side, and the old side's state goes past it.
    function highlightTable(table, language) {
        const state = { o: undefined, n: undefined };
        const run = (side, code) => {
            const result = hljs.highlight(language, code, true, state[side]);
            state[side] = result.top;
            return result.value;
        };
        for (const row of table.rows) {
            if (row.classList.contains("hunk")) {
                state.o = undefined;
                state.n = undefined;
                continue;
            }
            for (const cell of row.querySelectorAll("td.c[data-s]")) {
                const code = cell.textContent;
                const side = cell.dataset.s;
                if (side === "b") {
                    cell.innerHTML = run("n", code);
                    run("o", code);
                } else {
                    cell.innerHTML = run(side, code);
                }
            }
        }
    }

    function highlightAll() {
        if (typeof hljs === "undefined") {
            return;
        }
        const files = Array.from(document.querySelectorAll(".file-diff[data-lang]"));
        // A file at a time, letting the browser draw in between: the longest lesson has
        // thousands of lines.
        const next = () => {
            const file = files.shift();
            if (!file) {
                document.documentElement.dataset.diffHighlighted = "true";
                return;
            }
            const language = file.dataset.lang;
            if (hljs.getLanguage(language)) {
                for (const table of file.querySelectorAll("table")) {
                    try {
                        highlightTable(table, language);
                    } catch (e) {
                        // Left as plain text: still the right lines, only without colours.
                    }
                }
            }
            setTimeout(next, 0);
        };
        next();
    }

    document.addEventListener("DOMContentLoaded", () => {
        if (!document.querySelector(".lesson-diff")) {
            return;
        }
        for (const button of document.querySelectorAll(".diff-controls button")) {
            button.addEventListener("click", () => setLayout(button.dataset.layout));
        }
        let saved = "auto";
        try {
            saved = localStorage.getItem(KEY) || "auto";
        } catch (e) {
            // See setLayout.
        }
        setLayout(saved);
        indent();
        fit();
        window.addEventListener("resize", fit);
        highlightAll();
    });
})();
