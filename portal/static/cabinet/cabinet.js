/* The cabinet's only script: registers the service worker (the card opens offline), says when the page shown is a
   saved copy, and forgets the saved card after logging out or closing the cabinet. No inline code anywhere. */
(function () {
  "use strict";
  var body = document.body;
  if (!("serviceWorker" in navigator) || !body) { return; }
  if (body.dataset.clearCache === "1") {
    if (window.caches) {
      caches.keys().then(function (keys) {
        keys.forEach(function (k) { if (k.indexOf("cabinet-") === 0) { caches.delete(k); } });
      });
    }
    return;
  }
  navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope }).catch(function () {});
  function showOffline() {
    var note = document.querySelector(".offline-note");
    if (note) { note.classList.toggle("d-none", navigator.onLine); }
  }
  window.addEventListener("online", showOffline);
  window.addEventListener("offline", showOffline);
  showOffline();
})();
