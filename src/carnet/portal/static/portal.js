/* Carnet portal: small progressive enhancements. Every page works without this script. */
(function () {
  "use strict";

  // A form sent once: a second click does nothing while the first request is on its way.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") {
      return;
    }
    if (form.dataset.sending === "1") {
      event.preventDefault();
      return;
    }
    if (event.defaultPrevented) {
      return;
    }
    form.dataset.sending = "1";
    form.setAttribute("aria-busy", "true");
  });

  // After logging out, the back button must not show a page kept in the browser's memory.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  // A form in error: its summary takes the focus, so that screen readers read it first.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();
