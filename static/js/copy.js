// Copy buttons: one on every code block, and the ones marked data-copy="<field id>" (the new API
// key). Without JavaScript there are none (data-copy ones stay hidden): the text can still be
// selected and copied by hand.
(() => {
  const status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("aria-live", "polite");
  document.body.append(status);

  const copy = async (button, text, select) => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
      status.textContent = "Copied to the clipboard.";
    } catch {
      // No clipboard (a page served over plain HTTP from another machine): select it instead.
      select();
      button.textContent = "Press Ctrl+C";
      status.textContent = "Could not copy: the text is selected, press Ctrl+C (⌘C on a Mac).";
    }
    setTimeout(() => {
      button.textContent = "Copy";
    }, 2500);
  };

  document.querySelectorAll("pre > code").forEach((code) => {
    const pre = code.parentElement;
    const block = document.createElement("div");
    block.className = "code-block";
    const bar = document.createElement("div");
    bar.className = "code-bar";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    bar.append(button);
    pre.replaceWith(block);
    block.append(bar, pre);
    button.addEventListener("click", () =>
      copy(button, code.textContent, () => window.getSelection().selectAllChildren(code)),
    );
  });

  document.querySelectorAll("[data-copy]").forEach((button) => {
    const field = document.getElementById(button.dataset.copy);
    button.hidden = false;
    button.addEventListener("click", () => copy(button, field.value, () => field.select()));
  });
})();
