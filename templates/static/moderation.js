// Small conveniences for the moderator UI; every page works without this file.
(function () {
  "use strict";
  // Ask before destructive decisions (reject, merge, force).
  document.querySelectorAll("button.danger").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var text = document.documentElement.lang === "en" ? "Are you sure?" : "Er du sikker?";
      if (button.dataset.noConfirm === undefined && !window.confirm(text)) {
        event.preventDefault();
      }
    });
  });
})();
