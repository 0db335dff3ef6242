// Behaviour shared by every page. The Content-Security-Policy forbids inline scripts, on*= attributes and style=""
// attributes, so what templates used to say inline they now say with data-* attributes read here.
(function () {
  "use strict";

  function each(selector, fn, root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  // <div class="progress-bar" data-width="40"> — a width in per cent (a style="" attribute would be refused).
  function applyWidths(root) {
    each("[data-width]", function (el) {
      var pct = parseFloat(el.getAttribute("data-width"));
      if (!isNaN(pct)) { el.style.width = Math.max(0, Math.min(100, pct)) + "%"; }
    }, root);
  }

  // <input type="checkbox" data-check-all="member_ids"> ticks or clears every checkbox of that name in its form
  // (or on the page when it is outside a form).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-check-all]")) { return; }
    var name = box.getAttribute("data-check-all");
    var scope = box.form || document;
    each("input[type=checkbox]", function (c) {
      if (c.name === name) { c.checked = box.checked; }
    }, scope);
  });

  // <button data-confirm="Удалить?"> (or a form with data-confirm) asks before it submits.
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-confirm]");
    if (el && el.tagName !== "FORM" && !window.confirm(el.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute && form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  }, true);

  // Tables marked .table-stack turn into one card per row on a phone (portal.css); each cell is labelled with its
  // column's heading, taken from the table head so templates need not repeat it.
  function labelCells(root) {
    each("table.table-stack", function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return (th.getAttribute("data-label") || th.textContent || "").trim();
      });
      each("tbody tr", function (tr) {
        Array.prototype.forEach.call(tr.children, function (td, i) {
          if (heads[i] && !td.hasAttribute("data-label")) { td.setAttribute("data-label", heads[i]); }
        });
      }, table);
    }, root);
  }

  window.Portal = {applyWidths: applyWidths, labelCells: labelCells};
  function ready() { applyWidths(); labelCells(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
})();
