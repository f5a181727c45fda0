// Every form is sent once: a double click on its button (or Enter pressed twice) would post it twice,
// and some posts count against a small allowance (a password reset is one of the hour's few e-mails).
// A script that sends its form itself (Try it) cancels the submit event and keeps its own buttons.
(() => {
  const sent = new Set();
  let disabled = [];

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (sent.has(form)) {
      event.preventDefault();
      return;
    }
    if (event.defaultPrevented) return;
    sent.add(form);
    // Once the browser has read the form: a disabled button's own name and value would not be sent.
    setTimeout(() => {
      const buttons = [...form.elements].filter((element) => element.type === "submit" && !element.disabled);
      buttons.forEach((button) => {
        button.disabled = true;
      });
      disabled.push(...buttons);
    });
  });

  // Back to the page from the back-forward cache, as it was left: its forms can be sent again.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    sent.clear();
    disabled.forEach((button) => {
      button.disabled = false;
    });
    disabled = [];
  });
})();
