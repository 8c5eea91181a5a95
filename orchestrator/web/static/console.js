// Operator console: the project's own script. Pages work without it; it adds live refresh,
// confirm dialogs and one-submit-only forms. Fetches go to this origin only.
(function () {
  "use strict";

  // Live refresh: <div data-refresh="/path" data-interval="5000"> is re-fetched with
  // X-Fragment: 1 and replaced by the server-rendered fragment. A fragment carrying
  // [data-final] (a finished task) stops its polling; a 401 means the session ended.
  function poll(el) {
    var url = el.getAttribute("data-refresh");
    var every = parseInt(el.getAttribute("data-interval") || "5000", 10);
    var busy = false;
    var timer = window.setInterval(function () {
      if (busy || document.hidden) { return; }
      if (el.contains(document.activeElement)) { return; } // never yank focus from a control
      busy = true;
      fetch(url, { headers: { "X-Fragment": "1" }, credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (r.status === 401) { window.clearInterval(timer); window.location.assign("/login"); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined) {
            el.innerHTML = html;
            el.setAttribute("data-refreshed", String(Date.now()));
            if (el.querySelector("[data-final]")) { window.clearInterval(timer); }
          }
        })
        .catch(function () { /* the next tick tries again */ })
        .finally(function () { busy = false; });
    }, every);
    if (el.querySelector("[data-final]")) { window.clearInterval(timer); }
  }

  // <form data-confirm="question"> asks first; <form data-once> submits one time only
  // (a double click sends one request; the server's idempotency key covers the rest).
  // Delegated, so forms inside refreshed fragments are covered too.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { ev.preventDefault(); return; }
    if (form.hasAttribute("data-once")) {
      if (form.getAttribute("data-sent") === "1") { ev.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        window.setTimeout(function () { b.disabled = true; }, 0);
      });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(poll);
  });
})();
