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
      openSecondTap(form);
      var input = second.querySelector('input');
      if (input) input.focus();
    });
  }

  function openSecondTap(form) {
    form.querySelector('[data-first-tap]').hidden = true;
    form.querySelector('[data-second-tap]').hidden = false;
  }

  // The live queue: the server renders the list (escaped, as on a reload) and this replaces it
  // when it changed, keeping each confirm a trader has opened open, with what they typed.
  function startLive() {
    var list = document.getElementById('live-list');
    if (!list) return;
    var known = JSON.parse(list.getAttribute('data-paid-ids') || '[]');
    setupCue();
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
          if (list.getAttribute('data-version') !== data.version) replaceList(list, data);
          var fresh = data.paid_ids.filter(function (id) {
            return known.indexOf(id) < 0;
          });
          known = data.paid_ids;
          if (!fresh.length) return;
          announce(list, fresh);
          if (cueOn()) signal();
        })
        .catch(function () {})
        .then(function () {
          setTimeout(tick, POLL_MS);
        });
    }
    setTimeout(tick, POLL_MS);
  }

  // A screen reader hears each new "I have paid" once, not the whole list at every redraw.
  function announce(list, ids) {
    var status = document.getElementById('live-status');
    if (!status) return;
    var amounts = ids.map(function (id) {
      var amount = list.querySelector('[data-deal="' + id + '"] .amount');
      return amount ? amount.textContent : '';
    });
    status.textContent = status.getAttribute('data-paid-label') + ' ' + amounts.join(', ');
  }

  function replaceList(list, data) {
    var opened = {};
    list.querySelectorAll('[data-deal]').forEach(function (card) {
      var second = card.querySelector('[data-second-tap]');
      var input = second && second.querySelector('input');
      if (second && !second.hidden) opened[card.getAttribute('data-deal')] = input ? input.value : null;
    });
    var focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.id : null;
    list.innerHTML = data.html;
    list.setAttribute('data-version', data.version);
    list.setAttribute('data-paid-ids', JSON.stringify(data.paid_ids));
    list.querySelectorAll('[data-deal]').forEach(function (card) {
      var form = card.querySelector('[data-confirm-step]');
      if (!form) return;
      setupConfirmStep(form);
      var id = card.getAttribute('data-deal');
      if (!Object.prototype.hasOwnProperty.call(opened, id)) return;
      openSecondTap(form);
      var input = form.querySelector('[data-second-tap] input');
      if (input && opened[id] !== null) input.value = opened[id];
    });
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }

  // The cue for a new "I have paid": off until the trader switches it on on this device. The
  // audio context is made at that tap, since browsers only let a page sound after a gesture.
  var CUE_KEY = 'kasa-cue';
  var audio = null;

  function cueOn() {
    try {
      return localStorage.getItem(CUE_KEY) === 'on';
    } catch {
      return false;
    }
  }

  function setupCue() {
    var cue = document.getElementById('cue-toggle');
    if (!cue) return;
    var box = cue.querySelector('input');
    cue.hidden = false;
    box.checked = cueOn();
    box.addEventListener('change', function () {
      try {
        localStorage.setItem(CUE_KEY, box.checked ? 'on' : 'off');
      } catch {
        /* private mode: the choice lasts for this page only */
      }
      if (box.checked) {
        wakeAudio();
        signal();
      }
    });
    // A page opened with the cue on can sound only after the trader's first tap on it.
    document.addEventListener('pointerdown', wakeAudio, { once: true });
  }

  function wakeAudio() {
    if (!cueOn()) return;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume();
  }

  function signal() {
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
    if (!audio) return;
    try {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var t = audio.currentTime;
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, t);
      gain.gain.exponentialRampToValueAtTime(0.001, t + 0.3);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.3);
    } catch {
      /* no audio on this device */
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', onReady);
  else onReady();
})();
