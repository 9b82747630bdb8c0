// A section with data-fragment-src is filled from that same-origin URL (HTML the server rendered and escaped): a page
// shows another app's panel without importing that app. The section keeps its own content (a link to the same
// answer) when the fetch fails or the session has expired (the login redirect is not a fragment).
document.querySelectorAll("[data-fragment-src]").forEach(function (box) {
  box.setAttribute("aria-busy", "true");
  fetch(box.dataset.fragmentSrc, { credentials: "same-origin", headers: { Accept: "text/html" } })
    .then(function (response) {
      if (!response.ok || response.redirected) {
        throw new Error("fragment unavailable: " + response.status);
      }
      return response.text();
    })
    .then(function (html) {
      box.innerHTML = html;
      box.dataset.fragmentLoaded = "true";
    })
    .catch(function () {
      box.dataset.fragmentLoaded = "failed";
    })
    .finally(function () {
      box.setAttribute("aria-busy", "false");
    });
});
