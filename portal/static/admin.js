// The back office under the portal's Content-Security-Policy: what Flask-Admin's templates did with on*= handlers
// and javascript: links, done here (the overridden templates carry data-* attributes instead).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a");
    if (!link) { return; }
    // «With selected» actions: <a data-fa-action="name"> runs Flask-Admin's own modelActions.execute.
    var action = link.getAttribute("data-fa-action");
    if (action !== null) {
      event.preventDefault();
      if (window.modelActions) { window.modelActions.execute(action); }
      return;
    }
    // Links that only open a menu or mark the current tab (href="#" or "javascript:void(0)") go nowhere; following
    // a javascript: URL would be refused by the policy.
    var href = link.getAttribute("href") || "";
    if (href === "#" || href.indexOf("javascript:") === 0) { event.preventDefault(); }
  }, true);  // capture: before any library's handler, so none of them can let a javascript: link through
})();
