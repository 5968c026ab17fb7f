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
