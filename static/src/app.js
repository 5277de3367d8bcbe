// Studio's small page island: CSRF for htmx, busy buttons, readable errors.
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrfToken();
  });
  // A submit button cannot be pressed twice while its form is being sent.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt.closest ? e.detail.elt.closest("form") : null;
    if (form) form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt.closest ? e.detail.elt.closest("form") : null;
    if (form) form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
  });
  // A refused form that names where it goes (HX-Retarget) comes back with
  // its message and what was typed: swap it in, whatever its 4xx status.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget")) e.detail.shouldSwap = true;
  });
  // htmx does not swap other error responses; show their message instead of nothing.
  document.addEventListener("htmx:responseError", function (e) {
    var box = document.getElementById("flash");
    if (!box || e.detail.xhr.getResponseHeader("HX-Retarget")) return;
    var text = e.detail.xhr.responseText || "";
    var tmp = document.createElement("div");
    tmp.innerHTML = text;
    var alert = tmp.querySelector("[role=alert]");
    box.textContent = alert ? alert.textContent : "The request failed (" + e.detail.xhr.status + "). Try again.";
    box.hidden = false;
  });
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("flash");
    if (!box) return;
    box.textContent = "Studio cannot be reached. Check your connection and try again.";
    box.hidden = false;
  });
})();

// A button with data-confirm asks before its form is sent.
document.addEventListener("submit", function (e) {
  var b = e.submitter;
  if (b && b.dataset && b.dataset.confirm && !window.confirm(b.dataset.confirm)) e.preventDefault();
}, true);

// After a project is created, the form is ready for the next one.
document.addEventListener("htmx:afterRequest", function (e) {
  var form = e.detail.elt;
  if (form && form.id === "new-project" && e.detail.successful && !e.detail.xhr.getResponseHeader("HX-Retarget")) form.reset();
});
