// Draws the pages' ```mermaid diagrams (mdbook-mermaid has turned each into a
// <pre class="mermaid">), in mermaid's dark look when the book's theme is dark. Changing
// the theme reloads the page, so that the diagrams are drawn again in the new look.
(function () {
    "use strict";
    const dark = ["coal", "navy", "ayu"];
    const isDark = () => dark.some((theme) => document.documentElement.classList.contains(theme));
    const wasDark = isDark();
    mermaid.initialize({ startOnLoad: true, theme: wasDark ? "dark" : "default" });
    new MutationObserver(() => {
        if (isDark() !== wasDark) {
            window.location.reload();
        }
    }).observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
})();
