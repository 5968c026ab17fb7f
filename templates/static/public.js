// Progressive enhancement for the public catalogue. Filters are applied by the "Show
// results" button only: changing a menu never navigates on its own (WCAG 2.2 SC 3.2.2
// "On Input"), so keyboard and screen-reader users can pick several menus first.
(function () {
  "use strict";
  var form = document.querySelector("form.catalogue-form");
  if (!form) { return; }
  // On a phone the filter menus start folded so the results are in view.
  var details = form.querySelector("details.filter-details");
  if (details && window.matchMedia("(max-width: 50rem)").matches) {
    details.open = false;
  }
  form.addEventListener("submit", function () {
    Array.prototype.forEach.call(form.querySelectorAll("select, input[type=search]"), function (s) {
      if (s.value === "") { s.disabled = true; }
    });
  });
})();
