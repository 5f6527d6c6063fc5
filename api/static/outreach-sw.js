/* The outreach pages work with no signal: each page and asset is answered from the network when
   there is one (and kept), and from what was kept when there is none. */
var CACHE = 'journeys-outreach-v1';
self.addEventListener('install', function (event) { self.skipWaiting(); });
self.addEventListener('activate', function (event) { event.waitUntil(self.clients.claim()); });
self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') { return; }
  event.respondWith(fetch(request).then(function (answer) {
    if (answer.ok) {
      var copy = answer.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return answer;
  }).catch(function () { return caches.match(request); }));
});
