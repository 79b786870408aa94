// Interactive figures on the static website (nodelib.course.interactive.interactive_figure).
// Each figure holds one image per combination of its controls' values, drawn when the book was
// built; moving a control shows the image of the new combination (loaded on first use: only
// the shown image has a src at first), updates the value the slider announces
// (aria-valuetext) and puts the new image's alt text in the figure's live region, so that a
// screen reader says what the figure now shows. No kernel, no network.
document.addEventListener("DOMContentLoaded", () => {
  for (const figure of document.querySelectorAll("[data-nodelib-stepper]")) {
    const controls = Array.from(figure.querySelectorAll("[data-control]"));
    const frames = Array.from(figure.querySelectorAll("img[data-state]"));
    const status = figure.querySelector(".nodelib-stepper-status");
    const show = (announce) => {
      const state = controls.map((control) => control.value).join(",");
      for (const frame of frames) {
        const shown = frame.dataset.state === state;
        if (shown && !frame.getAttribute("src") && frame.dataset.src) {
          frame.setAttribute("src", frame.dataset.src);
        }
        frame.hidden = !shown;
        if (shown && status && announce) {
          status.textContent = frame.alt;
        }
      }
      for (const control of controls) {
        if (!control.dataset.labels) continue;
        const text = JSON.parse(control.dataset.labels)[Number(control.value)];
        control.setAttribute("aria-valuetext", text);
        const output = control.parentElement.querySelector("output");
        if (output) output.textContent = text;
      }
    };
    for (const control of controls) {
      control.addEventListener("input", () => show(true));
      control.addEventListener("change", () => show(true));
    }
    show(false);
  }
});
