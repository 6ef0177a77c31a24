// Copy buttons, show/hide of secrets and confirmations. Everything works
// without it but copying, which then is select-and-copy by hand.
"use strict";
document.addEventListener("click", async (e) => {
  const copy = e.target.closest("button[data-copy]");
  if (copy) {
    const el = document.getElementById(copy.dataset.copy);
    try {
      await navigator.clipboard.writeText(el.textContent.trim());
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Copy failed: select it";
    }
    setTimeout(() => { copy.textContent = "Copy"; }, 2000);
    return;
  }
  const reveal = e.target.closest("button[data-reveal]");
  if (reveal) {
    const el = document.getElementById(reveal.dataset.reveal);
    const hidden = el.dataset.hidden === "true";
    el.dataset.hidden = hidden ? "false" : "true";
    reveal.textContent = hidden ? "Hide" : "Show";
  }
});
document.addEventListener("submit", (e) => {
  const msg = e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});
