/* The outreach pages with a weak signal. Only the static assets (styles, scripts, fonts) are kept
   on the phone: a page can hold a person's details, so pages are always fetched and never kept,
   and a page asked for with no signal gets a short notice instead. A contact recorded on a page
   that is already open waits in the page's outbox until the signal returns (outreach.js). */
var CACHE = 'journeys-outreach-v2';
var OFFLINE = '<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
  '<title>No signal</title><body style="font-family:sans-serif;margin:1rem"><h1>No signal</h1>' +
  '<p>Pages are not kept on this phone, so this one cannot be shown until the signal returns.</p>' +
  '<p>Contacts you recorded on an open page are kept and sent when it does.</p></body></html>';

self.addEventListener('install', function (event) { self.skipWaiting(); });
self.addEventListener('activate', function (event) {
  // Drop what earlier versions kept: they kept pages too.
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) { return name !== CACHE; })
      .map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});
self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') { return; }
  var url = new URL(request.url);
  if (url.origin === self.location.origin && url.pathname.indexOf('/static/') === 0) {
    event.respondWith(fetch(request).then(function (answer) {
      if (answer.ok) {
        var copy = answer.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return answer;
    }).catch(function () { return caches.match(request); }));
    return;
  }
  if (request.mode === 'navigate') {
    event.respondWith(fetch(request).catch(function () {
      return new Response(OFFLINE, { status: 503, headers: { 'content-type': 'text/html; charset=utf-8',
                                                             'cache-control': 'no-store' } });
    }));
  }
});
