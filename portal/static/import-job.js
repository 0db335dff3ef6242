// The import job page while a run is going: poll its status, move the bar, open the result when it has finished.
// Texts come translated from the page (data-text-with-total / data-text-without-total on #progress-box).
(function () {
  "use strict";
  var box = document.getElementById("progress-box");
  if (!box || !window.fetch) { return; }
  var bar = document.getElementById("progress-bar"), text = document.getElementById("progress-text");
  var withTotal = box.getAttribute("data-text-with-total") || "";
  var withoutTotal = box.getAttribute("data-text-without-total") || "";
  function poll() {
    fetch(box.getAttribute("data-status-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.finished) { window.location.replace(box.getAttribute("data-job-url")); return; }
        var pct = s.total ? Math.min(100, Math.floor(100 * s.processed / s.total)) : 0;
        bar.style.width = Math.max(pct, 3) + "%";
        bar.textContent = pct + "%";
        bar.parentNode.setAttribute("aria-valuenow", pct);
        text.textContent = (s.total ? withTotal : withoutTotal).replace("%(done)s", s.processed).replace("%(total)s", s.total);
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 700);
})();
