// Progressive enhancement for the public catalogue: submit the filter form as soon as a
// menu changes. Without JavaScript the "Show results" button does the same.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (!form) { return; }
  // On a phone the filter menus start folded so the results are in view.
  var details = form.querySelector("details.filter-details");
  if (details && window.matchMedia("(max-width: 50rem)").matches) {
    details.open = false;
  }
  form.addEventListener("change", function (event) {
    if (event.target && event.target.tagName === "SELECT") {
      // Empty menus would only add "&status=" noise to the shareable address.
      Array.prototype.forEach.call(form.querySelectorAll("select"), function (s) {
        s.disabled = s.value === "";
      });
      form.submit();
    }
  });
  form.addEventListener("submit", function () {
    Array.prototype.forEach.call(form.querySelectorAll("select, input[type=search]"), function (s) {
      if (s.value === "") { s.disabled = true; }
    });
  });
})();
