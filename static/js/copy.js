// Copy buttons (data-copy="<input id>"). Without JavaScript they stay hidden and the key can be
// selected in its read-only field.
document.querySelectorAll("[data-copy]").forEach((button) => {
  const input = document.getElementById(button.dataset.copy);
  const status = document.getElementById(input.getAttribute("aria-describedby"));
  button.hidden = false;
  button.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = "Copied to the clipboard.";
    } catch {
      status.textContent = "Could not copy: the key is selected, press Ctrl+C (⌘C on a Mac).";
    }
  });
});
