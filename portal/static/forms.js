/* Form helpers shared by the staff pages (no inline handlers: the Content-Security-Policy forbids them).
 *
 * - <input type="checkbox" data-check-all="member_ids">: ticks or clears every checkbox of that name in its form.
 * - <button data-requires="comment">: a field required only for this button (a refusal needs its reason, an
 *   approval does not): clicking the button marks the named fields required before the browser checks the form,
 *   clicking another button of the form clears the mark. The server checks the same and answers with the form.
 */
(function () {
  "use strict";

  function scopeOf(el) {
    return el.form || document;
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-check-all]")) {
      return;
    }
    // A form's `elements` include the checkboxes tied to it by form="…" from outside it (table rows).
    var scope = scopeOf(box);
    var boxes = scope.elements ? Array.prototype.slice.call(scope.elements)
      : Array.prototype.slice.call(scope.querySelectorAll("input"));
    boxes.forEach(function (c) {
      if (c.type === "checkbox" && c.name === box.dataset.checkAll && !c.disabled) {
        c.checked = box.checked;
      }
    });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button, input[type=submit]") : null;
    if (!button || !button.form) {
      return;
    }
    var form = button.form;
    var conditional = form.querySelectorAll("[data-requires]");
    if (!conditional.length) {
      return;
    }
    conditional.forEach(function (b) {
      b.dataset.requires.split(/\s+/).forEach(function (name) {
        var field = form.elements.namedItem(name);
        if (field) {
          field.required = false;
        }
      });
    });
    (button.dataset.requires || "").split(/\s+/).forEach(function (name) {
      var field = name && form.elements.namedItem(name);
      if (field) {
        field.required = true;
      }
    });
  });
})();
