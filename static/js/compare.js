// Before/after comparisons: the range input over the picture moves the divider (--position).
// Without JavaScript the optimized picture shows whole, with its figures beside it.
document.querySelectorAll("[data-compare]").forEach((figure) => {
  const range = figure.querySelector("[data-compare-range]");
  const move = () => figure.style.setProperty("--position", `${range.value}%`);
  range.addEventListener("input", move);
  move();
});
