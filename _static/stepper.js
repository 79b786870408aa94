// Interactive figures on the static website (nodelib.course.interactive.interactive_figure).
// Each figure holds one image per combination of its controls' values, drawn when the book was
// built; moving a control shows the image of the new combination. No kernel, no network.
document.addEventListener("DOMContentLoaded", () => {
  for (const figure of document.querySelectorAll("[data-nodelib-stepper]")) {
    const controls = Array.from(figure.querySelectorAll("[data-control]"));
    const frames = Array.from(figure.querySelectorAll("img[data-state]"));
    const show = () => {
      const state = controls.map((control) => control.value).join(",");
      for (const frame of frames) {
        frame.hidden = frame.dataset.state !== state;
      }
      for (const control of controls) {
        const output = control.parentElement.querySelector("output");
        if (output && control.dataset.labels) {
          output.textContent = JSON.parse(control.dataset.labels)[Number(control.value)];
        }
      }
    };
    for (const control of controls) {
      control.addEventListener("input", show);
      control.addEventListener("change", show);
    }
    show();
  }
});
