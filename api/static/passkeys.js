/* Passkeys on the pages: a form whose button has data-passkey asks the server for a ceremony's
   options, lets the browser make or use the passkey (the phone asks for the member's
   fingerprint, face or PIN), and sends the answer with the form's fields. The server keeps the
   challenge; nothing secret passes through this script. Needs a browser with the WebAuthn JSON
   helpers (Chromium 129+, Safari 18.4+, Firefox 119+). */
(function () {
  'use strict';

  var problem = document.getElementById('passkey-problem');

  function say(text) {
    if (!problem) { window.alert(text); return; }
    problem.querySelector('#passkey-problem-text').textContent = text;
    problem.hidden = false;
    problem.focus();
  }

  function postJson(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
    }).then(function (answer) {
      return answer.json().catch(function () { return {}; }).then(function (said) {
        if (!answer.ok) { throw new Error(said.error || 'That did not work: try again'); }
        return said;
      });
    });
  }

  function ceremony(button) {
    var form = button.form;
    var fields = {};
    new FormData(form).forEach(function (value, name) { fields[name] = value; });
    var kind = button.dataset.passkey;
    button.disabled = true;
    return postJson(button.dataset.options, { csrf: fields.csrf }).then(function (options) {
      if (kind === 'register') {
        return navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
      }
      return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    }).then(function (credential) {
      fields.credential = credential.toJSON();
      return postJson(form.action, fields);
    }).then(function (done) {
      window.location.assign(done.go);
    }).catch(function (failed) {
      button.disabled = false;
      // NotAllowedError: the member cancelled, or the phone timed out.
      say(failed && failed.name === 'NotAllowedError'
        ? 'The passkey was not used (cancelled, or it took too long): try again'
        : (failed && failed.message) || 'That did not work: try again');
    });
  }

  var supported = window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON;
  document.querySelectorAll('[data-passkey]').forEach(function (button) {
    if (!supported) {
      button.disabled = true;
      say('This browser cannot use passkeys: use an up-to-date Chrome, Edge, Safari or Firefox');
      return;
    }
    button.form.addEventListener('submit', function (event) {
      // Another button of the form (an organisation's single sign-on) posts as a form does.
      if (event.submitter && event.submitter !== button) return;
      event.preventDefault();
      ceremony(button);
    });
  });
})();
