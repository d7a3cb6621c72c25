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
