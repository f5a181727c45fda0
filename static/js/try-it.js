// The "try it" page: drop or choose an image (or paste a URL), send it with fetch, and show the
// original and the optimized image side by side. Without JavaScript the form posts normally and
// the server renders the result. compare.js moves the comparison's divider.
(() => {
  const form = document.querySelector("[data-try-it]");
  if (!form) return;

  const $ = (selector) => document.querySelector(selector);
  const fileInput = form.querySelector('input[type="file"]');
  const urlInput = form.querySelector('input[name="url"]');
  const dropzone = form.querySelector("[data-dropzone]");
  const chosen = form.querySelector("[data-file-chosen]");
  const submit = form.querySelector("[data-submit]");
  const quality = form.querySelector('input[name="quality"]');
  const qualityOutput = form.querySelector("[data-quality-output]");
  const maxBytes = Number(form.dataset.maxBytes);
  const errorBox = $("[data-error]");
  const heading = $("#result-heading");
  const busy = $("[data-busy]");
  const empty = $("[data-empty]");
  const output = $("[data-output]");
  const compare = $("[data-compare]");
  const original = $("[data-original]");
  const originalTag = $("[data-original-tag]");
  const originalNote = $("[data-original-note]");
  const optimized = $("[data-optimized]");
  const range = $("[data-compare-range]");
  const download = $("[data-download]");
  const caption = $("[data-compare-caption]");
  let originalUrl = null;
  let optimizedUrl = null;

  const formatBytes = (bytes) => {
    if (bytes < 1024) return `${bytes} bytes`;
    const units = ["KB", "MB", "GB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(1)} ${units[unit]}`;
  };

  // Said as the API's refusal says it: in bytes, and the limit as the page's help writes it (32 MiB
  // in KB/MB of 1024 read "32.0 MB", which tools that count in 1000s show 33.0 MB as).
  const tooLarge = (file) =>
    `This file is ${file.size.toLocaleString("en-US")} bytes; the most we take is ${form.dataset.maxSize}.`;

  const showError = (message, { upgrade = false } = {}) => {
    errorBox.textContent = message;
    if (upgrade) {
      const link = document.createElement("a");
      link.href = form.dataset.pricingUrl;
      link.textContent = "Upgrade your plan";
      errorBox.append(" ", link);
    }
    errorBox.hidden = false;
    empty.hidden = true;
    // A result still on screen is the previous image's: beside the error it would pass for this one's.
    output.hidden = true;
  };

  // After "Optimize", the answer takes the focus, which scrolls it into view: on a phone the
  // result card is below the form.
  const fail = (message, options) => {
    showError(message, options);
    errorBox.focus();
  };

  const clearError = () => {
    errorBox.hidden = true;
    errorBox.textContent = "";
  };

  const describeFile = (file) => {
    chosen.textContent = file ? `${file.name} — ${formatBytes(file.size)}` : "";
    dropzone.classList.toggle("has-file", Boolean(file));
  };

  const takeFile = (file) => {
    clearError();
    describeFile(file);
    if (!file) return;
    urlInput.value = "";
    if (file.size > maxBytes) {
      showError(tooLarge(file));
    } else if (file.type && !file.type.startsWith("image/")) {
      showError("That file is not an image. Choose a JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF or BMP file.");
    }
  };

  fileInput.addEventListener("change", () => takeFile(fileInput.files[0]));
  urlInput.addEventListener("input", () => {
    if (urlInput.value && fileInput.files.length) {
      fileInput.value = "";
      describeFile(null);
    }
  });
  quality.addEventListener("input", () => {
    qualityOutput.textContent = quality.value;
  });

  ["dragenter", "dragover"].forEach((type) =>
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add("dragging");
    }),
  );
  ["dragleave", "drop"].forEach((type) =>
    dropzone.addEventListener(type, () => dropzone.classList.remove("dragging")),
  );
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    const [file] = event.dataTransfer.files;
    if (!file) return;
    const files = new DataTransfer();
    files.items.add(file);
    fileInput.files = files.files;
    takeFile(file);
  });

  const showOriginal = (source) => {
    if (originalUrl) URL.revokeObjectURL(originalUrl);
    originalUrl = source instanceof Blob ? URL.createObjectURL(source) : null;
    const shown = (visible) => {
      original.hidden = !visible;
      originalTag.hidden = !visible;
      range.hidden = !visible;
      originalNote.hidden = visible;
      compare.classList.toggle("comparing", visible);
      caption.textContent = visible
        ? "The original on the left, the optimized image on the right."
        : "The optimized image.";
    };
    original.onload = () => shown(true);
    original.onerror = () => shown(false);
    original.src = originalUrl || source;
  };

  const showResult = (data, name) => {
    const bytes = Uint8Array.from(atob(data.data), (character) => character.charCodeAt(0));
    if (optimizedUrl) URL.revokeObjectURL(optimizedUrl);
    optimizedUrl = URL.createObjectURL(new Blob([bytes], { type: data.contentType }));
    optimized.src = optimizedUrl;
    optimized.width = data.width;
    optimized.height = data.height;
    // As the server draws it: `savings` is never below 0, so a result no smaller than the original
    // says so rather than "0%".
    const saved = data.savings > 0;
    const grownBy = data.optimizedSize - data.originalSize;
    $("[data-saved]").classList.toggle("saved", saved);
    $("[data-some-saved]").hidden = !saved;
    $("[data-none-saved]").hidden = saved;
    const stats = {
      originalSize: formatBytes(data.originalSize),
      optimizedSize: formatBytes(data.optimizedSize),
      savingsPercent: String(data.savingsPercent),
      savings: formatBytes(data.savings),
      unsaved: grownBy > 0 ? `(the result is ${formatBytes(grownBy)} larger)` : "(the same size)",
      format: { webp: "WebP", avif: "AVIF" }[data.format] || data.format,
      dimensions: `${data.width} × ${data.height}`,
    };
    Object.entries(stats).forEach(([key, value]) => {
      $(`[data-stat="${key}"]`).textContent = value;
    });
    // Smart compression adds `quality: {metric, score}`; older answers have no such field.
    $("[data-quality]").hidden = !data.quality;
    if (data.quality) {
      // As the server draws it: the metric's name is small, so that it fits the box on a phone.
      const metric = document.createElement("small");
      metric.textContent = data.quality.metric;
      $('[data-stat="quality"]').replaceChildren(`${data.quality.score} `, metric);
    }
    $("[data-notice]").hidden = !data.notice;
    $("[data-notice]").textContent = data.notice || "";
    download.href = optimizedUrl;
    download.download = `${name.replace(/\.[^.]*$/, "") || "optimized"}.${data.format}`;
    range.value = 50;
    compare.style.setProperty("--position", "50%");
    output.hidden = false;
    empty.hidden = true;
  };

  // The month's usage, from the same X-Quota-* headers as the API's answers.
  const showUsage = (used, limit) => {
    if (used === null) return;
    const count = $("[data-quota-used]");
    if (count) count.textContent = Number(used).toLocaleString("en-US");
    // The noun after a count that changes ("1 image", "2 images"); after a limit it follows the limit.
    const noun = $("[data-quota-noun]");
    if (noun) noun.textContent = Number(used) === 1 ? "image" : "images";
    const bar = $("[data-quota-bar]");
    if (bar && limit !== "unlimited") {
      const percent = Number(limit) ? Math.min(100, Math.floor((Number(used) * 100) / Number(limit))) : 100;
      // Capped: a limit lowered below the month's count must not put the value past the bar's end.
      bar.setAttribute("aria-valuenow", Math.min(Number(used), Number(limit)));
      bar.classList.toggle("full", percent >= 100);
      // The bar is an SVG whose width attribute the page drew (a style attribute would break the CSP).
      bar.firstElementChild.setAttribute("width", `${percent}%`);
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const file = fileInput.files[0];
    const url = urlInput.value.trim();
    if (!file && !url) {
      fail("Choose an image, drop one here, or paste its URL.");
      return;
    }
    if (file && file.size > maxBytes) {
      fail(tooLarge(file));
      return;
    }
    submit.disabled = true;
    busy.hidden = false;
    try {
      const response = await fetch(form.action || window.location.href, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      showUsage(response.headers.get("X-Quota-Used"), response.headers.get("X-Quota-Limit"));
      const data = await response.json().catch(() => null);
      if (!response.ok || !data || !data.success) {
        const message = (data && data.error) || "Something went wrong. Please try again.";
        // The server says when a bigger plan is the way on (the month's images used up); the other
        // LIMIT_REACHED refusals, images still in flight and the minute's rate limit, pass in seconds.
        fail(message, { upgrade: Boolean(data && data.upgrade === true) });
        return;
      }
      showResult(data, file ? file.name : new URL(url, window.location.href).pathname.split("/").pop());
      showOriginal(file || url);
      heading.focus();
    } catch {
      fail("Could not reach Smolpix. Check your connection and try again.");
    } finally {
      submit.disabled = false;
      busy.hidden = true;
    }
  });
})();
