// Modal dialogs: native <dialog> (focus is kept inside, Escape closes), focus returned to the
// control that opened it.

const openers = new WeakMap();

export function openDialog(dialog, opener = document.activeElement) {
  if (!dialog.open) openers.set(dialog, opener);
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector("[data-autofocus]") ?? dialog.querySelector("[data-close]");
  first?.focus();
}

/** onClose() may return an element to focus when the opener has left the page. */
export function setupDialog(dialog, onClose = () => null) {
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
