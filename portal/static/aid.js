// The chair's petition form: ask the server for the amount and the problems whenever a field changes.
// Without scripts the «Проверить условия» (check) button does the same by re-rendering the page.
(function () {
  "use strict";
  var form = document.getElementById("aid-form");
  if (!form) { return; }
  var box = document.getElementById("aid-quote");
  var timer = null;
  var seq = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function render(q) {
    var body = el("div", "card-body");
    if (!q.ready) {
      if (q.summary) { body.appendChild(el("p", "mb-1", q.summary)); }
      body.appendChild(el("p", "mb-0 text-muted", q.message));
    } else {
      // The sentences come translated from the server, in the page's language.
      body.appendChild(el("p", "mb-1", q.summary));
      var p = el("p", "fs-5 mb-2", q.amount_label);
      var strong = el("strong", "", q.amount_text);
      strong.setAttribute("data-testid", "aid-amount");
      p.appendChild(strong);
      body.appendChild(p);
      var all = q.problems.concat(q.bank_problems.map(function (m) { return {message: m, blocking: true, rule: "bank"}; }));
      if (all.length) {
        var ul = el("ul", "mb-0");
        ul.setAttribute("data-testid", "aid-problems");
        all.forEach(function (pr) {
          var li = el("li", pr.blocking ? "text-danger" : "text-warning-emphasis", pr.message);
          li.setAttribute("data-rule", pr.rule);
          ul.appendChild(li);
        });
        body.appendChild(ul);
        if (!q.eligible) { body.appendChild(el("p", "mt-2 mb-0 fw-semibold text-danger", q.blocked_text)); }
      } else {
        var ok = el("p", "mb-0 text-success", q.eligible_text);
        ok.setAttribute("data-testid", "aid-eligible");
        body.appendChild(ok);
      }
    }
    box.replaceChildren(body);
  }

  function ask() {
    var mine = ++seq;
    fetch(form.getAttribute("data-quote-url"), {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (q) { if (q && mine === seq) { render(q); } })
      .catch(function () { /* the check button still works */ });
  }

  form.addEventListener("change", ask);
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 400); });
}());
