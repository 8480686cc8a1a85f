// Small enhancements only: every page works without JavaScript.
// A click on a <code class="copy"> copies its text to the clipboard.
document.addEventListener("click", (event) => {
  const target = event.target.closest("code.copy");
  if (!target || !navigator.clipboard) return;
  navigator.clipboard.writeText(target.textContent.trim()).then(() => {
    target.classList.add("copied");
    setTimeout(() => target.classList.remove("copied"), 1200);
  });
});
