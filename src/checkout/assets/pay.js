// Kasa payment page enhancements. The page works without this file; it only adds copy buttons,
// a live countdown and status polling that moves on once the payment is final.
(function () {
  'use strict';

  var POLL_INTERVAL_MS = 3000;
  var COPIED_SHOWN_MS = 1500;
  var TIMER_LOW_SECONDS = 120;

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Older browsers and plain-http deployments: the legacy selection path.
    return new Promise(function (resolve, reject) {
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'sr';
      document.body.appendChild(area);
      area.select();
      var ok;
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
      document.body.removeChild(area);
      if (ok) resolve();
      else reject(new Error('copy failed'));
    });
  }

  function setUpCopyButtons() {
    var buttons = document.querySelectorAll('button[data-copy]');
    Array.prototype.forEach.call(buttons, function (button) {
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener('click', function () {
        copyText(button.getAttribute('data-copy')).then(
          function () {
            button.textContent = button.getAttribute('data-copied');
            button.classList.add('done');
            setTimeout(function () {
              button.textContent = label;
              button.classList.remove('done');
            }, COPIED_SHOWN_MS);
          },
          function () {
            /* the text stays selectable by hand */
          },
        );
      });
    });
  }

  function formatDuration(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var two = function (n) {
      return (n < 10 ? '0' : '') + n;
    };
    return h > 0 ? h + ':' + two(m) + ':' + two(s % 60) : two(m) + ':' + two(s % 60);
  }

  // Counts down from the seconds the server computed, on the monotonic clock: a phone whose
  // clock is wrong still shows the right time left.
  function setUpCountdown(onZero) {
    var time = document.getElementById('countdown');
    if (!time) return;
    var total = Number(time.getAttribute('data-seconds-left')) || 0;
    var started = performance.now();
    var timer = setInterval(function () {
      var left = total - (performance.now() - started) / 1000;
      time.textContent = formatDuration(left);
      if (time.parentNode) time.parentNode.classList.toggle('low', left <= TIMER_LOW_SECONDS);
      if (left <= 0) {
        clearInterval(timer);
        onZero();
      }
    }, 1000);
  }

  function setUpPolling() {
    var body = document.body;
    var statusUrl = body.getAttribute('data-status-url');
    if (!statusUrl) return function () {};
    var shownDealStatus = body.getAttribute('data-deal-status') || '';
    var pageUrl = body.getAttribute('data-page-url');
    var busy = false;
    var leaving = false;

    function check() {
      if (busy || leaving) return;
      busy = true;
      fetch(statusUrl, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (status) {
          if (!status) return;
          if (status.status !== 'pending' && status.redirect_url) {
            leaving = true;
            // The page's own link: reload so the server renders the verdict in this language.
            if (status.redirect_url === pageUrl) window.location.reload();
            else window.location.replace(status.redirect_url);
          } else if ((status.deal_status || '') !== shownDealStatus) {
            leaving = true;
            window.location.reload();
          }
        })
        .catch(function () {
          /* offline for a moment: the next tick tries again */
        })
        .then(function () {
          busy = false;
        });
    }

    setInterval(check, POLL_INTERVAL_MS);
    return check;
  }

  function start() {
    setUpCopyButtons();
    var checkNow = setUpPolling();
    setUpCountdown(checkNow);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
