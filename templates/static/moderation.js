// Small conveniences for the moderator UI; every page works without this file.
(function () {
  "use strict";
  // The question comes from the page, in the page's language (the catalogues).
  var question = (document.currentScript && document.currentScript.dataset.confirmText) || "?";
  // Ask before destructive decisions (reject, merge, force).
  document.querySelectorAll("button.danger").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (button.dataset.noConfirm === undefined && !window.confirm(question)) {
        event.preventDefault();
      }
    });
  });
})();
// Type-ahead for a long list of check boxes (the municipalities): typing filters the
// list and opens the groups with matches. Without this file the grouped list still works.
(function () {
  "use strict";
  document.documentElement.classList.add("has-js");
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var box = document.querySelector(input.dataset.filter);
    if (!box) { return; }
    input.addEventListener("input", function () {
      var term = input.value.trim().toLocaleLowerCase("da");
      box.querySelectorAll("details").forEach(function (group) {
        var shown = 0;
        group.querySelectorAll("label.check").forEach(function (label) {
          var match = !term || label.textContent.toLocaleLowerCase("da").indexOf(term) !== -1;
          label.hidden = !match;
          if (match) { shown += 1; }
        });
        group.hidden = term !== "" && shown === 0;
        if (term) { group.open = shown > 0; }
      });
    });
    // Enter in the search box must not submit the whole edit form.
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
  });
})();
