// Printing downloads the form and moves the consent to «printed»: fetch the file, hand it to the browser, then show
// the page again so the next step (recording the signature) is there. Without JavaScript the form still downloads.
// Texts come translated from the form (data-text-busy, data-text-done on #print-form).
(function () {
  "use strict";
  var form = document.getElementById("print-form");
  if (!form || !window.fetch || !window.URL || !URL.createObjectURL) { return; }
  var status = document.getElementById("print-status");
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button) { return; }
    event.preventDefault();
    var data = new FormData(form);
    data.set(button.name, button.value);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    status.textContent = form.getAttribute("data-text-busy");
    function fallback() {  // let the server's own page say what went wrong
      var input = document.createElement("input");
      input.type = "hidden"; input.name = button.name; input.value = button.value;
      form.appendChild(input);
      HTMLFormElement.prototype.submit.call(form);
    }
    fetch(form.action, {method: "POST", body: data, credentials: "same-origin"}).then(function (response) {
      var disposition = response.headers.get("Content-Disposition") || "";
      if (!response.ok || disposition.indexOf("attachment") < 0) { fallback(); return; }
      var match = /filename="?([^";]+)"?/.exec(disposition);
      return response.blob().then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = match ? match[1] : "soglasie." + button.value;
        document.body.appendChild(link);
        link.click();
        status.textContent = form.getAttribute("data-text-done");
        setTimeout(function () { window.location.reload(); }, 500);
      });
    }).catch(fallback);
  });
})();
