/* Service worker of the member's cabinet (scope /cabinet/).

   The card page is fetched from the network first; each good answer is saved, and with no network the saved copy
   is shown (the page itself says when it was rendered: «Обновлено: …»). Styles, scripts and icons are cached on
   first use. Nothing else of the cabinet is kept offline. */
"use strict";
var CACHE = "cabinet-v1";
var CARD = "/cabinet/card";
var STATIC = /^\/(static|bootstrap)\//;

self.addEventListener("install", function (event) { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") { return; }
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname === CARD) {
    event.respondWith(fetch(req).then(function (res) {
      if (res.ok && !res.redirected) {
        var copy = res.clone();
        caches.open(CACHE).then(function (c) { c.put(CARD, copy); });
      }
      return res;
    }).catch(function () {
      return caches.open(CACHE).then(function (c) { return c.match(CARD); }).then(function (hit) {
        return hit || new Response("Нет сети", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
      });
    }));
    return;
  }
  if (STATIC.test(url.pathname)) {
    event.respondWith(caches.open(CACHE).then(function (c) {
      return c.match(req).then(function (hit) {
        return hit || fetch(req).then(function (res) { if (res.ok) { c.put(req, res.clone()); } return res; });
      });
    }));
  }
});
