// The course website's small helpers for readers on phones, keyboards and paper
// (Jupyter Book adds a <script> tag for every .js file in _static/; no library, no network).
//
// - A displayed equation wider than the column scrolls in its own box: it gets a visible cue
//   (shadows at the edges that hide more, course.css), a name, and a Tab stop so that the
//   keyboard can scroll it. Checked again after MathJax has typeset and when the width changes.
// - A figure shown much smaller than it was drawn (a phone) opens at full size on a tap, in a
//   dialog that scrolls and closes with its button or Escape.
// - Printing opens every folded hint (<details>) and shows every solution; closing the print
//   dialog folds the hints again.
(() => {
  const marked = "nodelib-scrolls";

  // The box that scrolls: the theme makes MathJax's display container scroll, course.css the
  // div.math around it; whichever of the two is wider inside than outside.
  const scrollers = () =>
    Array.from(document.querySelectorAll("article div.math")).flatMap((math) => [
      math,
      ...math.querySelectorAll(":scope > mjx-container"),
    ]);

  const markWideEquations = () => {
    for (const box of scrollers()) {
      const overflow = getComputedStyle(box).overflowX;
      const wide =
        (overflow === "auto" || overflow === "scroll") && box.scrollWidth > box.clientWidth + 1;
      if (wide && !box.classList.contains(marked)) {
        box.classList.add(marked);
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", "Wide equation, scrolls sideways");
      } else if (!wide && box.classList.contains(marked)) {
        box.classList.remove(marked);
        for (const name of ["tabindex", "role", "aria-label"]) box.removeAttribute(name);
      }
    }
  };

  const zoomable = (img) =>
    img.naturalWidth > 0 && img.getBoundingClientRect().width < 0.75 * img.naturalWidth;

  const openZoom = (img) => {
    const dialog = document.createElement("dialog");
    dialog.className = "nodelib-zoom";
    dialog.setAttribute("aria-label", "Figure at full size");
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", () => dialog.close());
    const frame = document.createElement("div");
    frame.className = "nodelib-zoom-frame";
    const big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    frame.append(big);
    dialog.append(close, frame);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    close.focus();
  };

  const openForPrint = () => {
    for (const details of document.querySelectorAll("details:not([open])")) {
      details.dataset.nodelibPrintOpened = "1";
      details.open = true;
    }
  };
  const foldAfterPrint = () => {
    for (const details of document.querySelectorAll("details[data-nodelib-print-opened]")) {
      details.open = false;
      delete details.dataset.nodelibPrintOpened;
    }
  };

  document.addEventListener("DOMContentLoaded", () => {
    markWideEquations();
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(markWideEquations);
    }
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(markWideEquations, 150);
    });
    document.querySelector("article")?.addEventListener("click", (event) => {
      const img = event.target.closest("img");
      if (img && !img.closest("a, button, dialog") && zoomable(img)) openZoom(img);
    });
    window.addEventListener("beforeprint", openForPrint);
    window.addEventListener("afterprint", foldAfterPrint);
  });
  window.addEventListener("load", () => {
    const typeset = window.MathJax && MathJax.startup && MathJax.startup.promise;
    (typeset || Promise.resolve()).then(markWideEquations);
  });
})();
