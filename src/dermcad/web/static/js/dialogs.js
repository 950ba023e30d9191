// Modal dialogs: native <dialog> (focus is kept inside, Escape closes), focus returned to the
// control that opened it.

const openers = new WeakMap();
const FOCUSABLE = "button:not([disabled]), input:not([disabled]), a[href], [tabindex]:not([tabindex='-1'])";

/** Tab and Shift+Tab cycle inside the dialog instead of leaving the page. */
function trapFocus(dialog, event) {
  if (event.key !== "Tab") return;
  const focusable = [...dialog.querySelectorAll(FOCUSABLE)].filter((e) => e.offsetParent !== null);
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}

export function openDialog(dialog, opener = document.activeElement) {
  if (!dialog.open) openers.set(dialog, opener);
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector("[data-autofocus]") ?? dialog.querySelector("[data-close]");
  first?.focus();
}

/** onClose() may return an element to focus when the opener has left the page. */
export function setupDialog(dialog, onClose = () => null) {
  dialog.addEventListener("keydown", (event) => trapFocus(dialog, event));
  dialog.addEventListener("click", (event) => {
    if (event.target.closest("[data-close]")) dialog.close();
    else if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  dialog.addEventListener("close", () => {
    const fallback = onClose();
    const opener = openers.get(dialog);
    (opener?.isConnected ? opener : fallback)?.focus();
  });
}
