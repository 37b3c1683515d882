// Kasa cabinets: a little JavaScript on top of pages that work without it. Live lists poll their
// JSON and replace their content; nothing here is needed to confirm, reject or sign in.
'use strict';
(function () {
  var body = document.body;
  var liveUrl = body.getAttribute('data-live-url');
  var POLL_MS = 2000;

  function onReady() {
    document.querySelectorAll('[data-confirm-step]').forEach(setupConfirmStep);
    if (liveUrl) startLive();
  }

  // Confirm in two taps: the first shows the amount and the received field, the second sends.
  function setupConfirmStep(form) {
    var first = form.querySelector('[data-first-tap]');
    var second = form.querySelector('[data-second-tap]');
    if (!first || !second) return;
    second.hidden = true;
    first.hidden = false;
    first.addEventListener('click', function () {
      first.hidden = true;
      second.hidden = false;
      var input = second.querySelector('input');
      if (input) input.focus();
    });
  }

  function startLive() {
    var list = document.getElementById('live-list');
    if (!list) return;
    var known = JSON.parse(list.getAttribute('data-paid-ids') || '[]');
    var cue = document.getElementById('cue-toggle');
    if (cue) {
      cue.hidden = false;
      var box = cue.querySelector('input');
      box.checked = localStorage.getItem('kasa-cue') === 'on';
      box.addEventListener('change', function () {
        localStorage.setItem('kasa-cue', box.checked ? 'on' : 'off');
      });
    }
    function tick() {
      fetch(liveUrl, { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (r) {
          if (r.status === 401) {
            window.location.href = '/login';
            return null;
          }
          return r.ok ? r.json() : null;
        })
        .then(function (data) {
          if (!data) return;
          if (list.getAttribute('data-version') !== data.version) {
            list.innerHTML = data.html;
            list.setAttribute('data-version', data.version);
            list.querySelectorAll('[data-confirm-step]').forEach(setupConfirmStep);
          }
          var fresh = data.paid_ids.filter(function (id) {
            return known.indexOf(id) < 0;
          });
          known = data.paid_ids;
          if (fresh.length && localStorage.getItem('kasa-cue') === 'on') signal();
        })
        .catch(function () {})
        .then(function () {
          setTimeout(tick, POLL_MS);
        });
    }
    setTimeout(tick, POLL_MS);
  }

  function signal() {
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      var osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.25);
    } catch {
      /* no audio on this device */
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', onReady);
  else onReady();
})();
