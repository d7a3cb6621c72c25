// Page behaviour shared by every page (htmx itself is django-htmx's bundled file).
// Refused forms answer 4xx with their fragment: the htmx-config meta tag of base.html swaps
// them in place. A server error (5xx) has no fragment to swap: show its page instead of
// leaving the click without an answer.
document.addEventListener("htmx:responseError", function (event) {
  const xhr = event.detail.xhr;
  if (xhr && xhr.status >= 500 && xhr.responseText) {
    document.open();
    document.write(xhr.responseText);
    document.close();
  }
});

// Flash messages belong to the answer that made them (see HtmxMessagesMiddleware). An htmx
// navigation (hx-push-url) leaves the page they were about, and the history snapshot htmx
// keeps for Back must not bring them back: empty the box before both. New messages of the
// answer arrive out of band after this, in the swap.
function clearFlashMessages() {
  const box = document.getElementById("messages");
  if (box) box.replaceChildren();
}
document.addEventListener("htmx:beforeHistorySave", clearFlashMessages);
document.addEventListener("htmx:pushedIntoHistory", clearFlashMessages);
