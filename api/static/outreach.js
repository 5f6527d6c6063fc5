/* The outreach worker's phone: a contact is kept on the phone (localStorage) under its own event
   id until the server has it, so one recorded with no signal is sent when the signal returns and
   applied once however often it is tried. */
(function () {
  'use strict';
  var KEY = 'journeys.outbox';

  function outbox() { try { return JSON.parse(localStorage.getItem(KEY) || '[]'); } catch (e) { return []; } }
  function keep(items) { localStorage.setItem(KEY, JSON.stringify(items)); show(); }

  function show() {
    var waiting = document.getElementById('waiting');
    if (!waiting) { return; }
    var n = outbox().length;
    waiting.hidden = n === 0;
    waiting.textContent = n === 0 ? '' : (n === 1 ? '1 contact is' : n + ' contacts are') +
      ' waiting to be sent. They will go when the phone has a signal.';
  }

  var form = document.getElementById('contact');
  var sending = false;
  function sendAll() {
    if (sending || !navigator.onLine) { show(); return; }
    var items = outbox();
    if (items.length === 0) { show(); return; }
    sending = true;
    var item = items[0];
    // The open page's token: a contact kept from before a sign-out and a new sign-in carries
    // the old session's, which would be refused (and the contact lost).
    var current = form ? form.dataset.csrf : item.csrf;
    fetch('/outreach/contacts', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': current || item.csrf },
      body: JSON.stringify(item.contact)
    }).then(function (answer) {
      // Sent (or refused for good): off the phone. A network failure or 5xx: kept for later.
      if (answer.ok || (answer.status >= 400 && answer.status < 500 && answer.status !== 401 && answer.status !== 429)) {
        keep(outbox().filter(function (other) { return other.contact.event_id !== item.contact.event_id; }));
        sending = false;
        sendAll();
      } else { sending = false; show(); }
    }).catch(function () { sending = false; show(); });
  }

  if (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var value = function (name) { return form.elements[name].value.trim(); };
      var contact = {
        event_id: crypto.randomUUID(), person_id: form.dataset.person, occurred_at: new Date().toISOString(),
        details: { team: form.dataset.team, worker: 'page', area_code: value('area_code') || null,
                   bedded_down: form.elements.bedded_down.checked, engaged: form.elements.engaged.checked },
        personal: value('next_step') ? { next_step: value('next_step') } : {}
      };
      keep(outbox().concat([{ contact: contact, csrf: form.dataset.csrf }]));
      document.getElementById('contact-said').textContent = navigator.onLine ? 'Sending…' : 'Kept on this phone: no signal.';
      sendAll();
    });
  }
  window.addEventListener('online', sendAll);
  if ('serviceWorker' in navigator) { navigator.serviceWorker.register('/outreach/sw.js', { scope: '/outreach' }); }
  show();
  sendAll();
})();
