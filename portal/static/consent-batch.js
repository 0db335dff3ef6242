// Batch printing of consent forms: poll the job, move the bar, offer the PDF when it is ready.
// #batch-progress carries data-status-url, data-running and the translated «Готово.» (data-text-done).
(function () {
  "use strict";
  var box = document.getElementById("batch-progress");
  if (!box || !window.fetch || box.getAttribute("data-running") !== "1") { return; }
  var url = box.getAttribute("data-status-url");
  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
      var bar = document.getElementById("bar");
      bar.style.width = (s.total ? Math.round(100 * s.done / s.total) : 0) + "%";
      bar.textContent = s.done + " / " + s.total;
      if (s.status === "done") {
        document.getElementById("status").textContent = box.getAttribute("data-text-done");
        document.getElementById("download").classList.remove("d-none");
      } else if (s.status === "failed") {
        document.getElementById("status").textContent = s.error;
      } else {
        setTimeout(poll, 700);
      }
    }).catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
