// Draws the pages' ```mermaid diagrams (mdbook-mermaid has turned each into a
// <pre class="mermaid">), in mermaid's dark look when the book's theme is dark. Changing
// the theme reloads the page, so that the diagrams are drawn again in the new look.
(function () {
    "use strict";
    const dark = ["coal", "navy", "ayu"];
    const isDark = () => dark.some((theme) => document.documentElement.classList.contains(theme));
    const wasDark = isDark();
    // Labels at about the size of the page's text: mermaid's own 12-16 px, scaled down with
    // a wide diagram, cannot be read from the back of a room. The size is set three times
    // because mermaid reads it from three places: the top-level setting (a sequence
    // diagram's messages), the theme's (the other diagrams) and the sequence diagrams' own.
    const size = 18;
    mermaid.initialize({
        startOnLoad: true,
        theme: wasDark ? "dark" : "default",
        fontSize: size,
        themeVariables: { fontSize: `${size}px` },
        sequence: { messageFontSize: size, actorFontSize: size, noteFontSize: size },
    });
    new MutationObserver(() => {
        if (isDark() !== wasDark) {
            window.location.reload();
        }
    }).observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
})();
