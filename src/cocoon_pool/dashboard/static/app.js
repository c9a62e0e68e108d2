// Epoch and timelock countdowns, and TON Connect for the member actions. The TON Connect UI
// bundle (served from /static/vendor) is loaded on the first press of a wallet button: it
// fetches the wallet list and logos as soon as it starts, and a page should not call out
// to anywhere just by being opened.
(function () {
  "use strict";
  var offset = null;
  function fmt(s) {
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + " d " + h + " h " + m + " min";
    if (h) return h + " h " + m + " min";
    return m + " min " + (s % 60) + " s";
  }
  function tick() {
    var els = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      // Server time, not the browser's: the embedded chain keeps its own clock.
      if (offset === null) offset = Number(el.dataset.now) - Date.now() / 1000;
      el.textContent = fmt(Number(el.dataset.countdown) - (Date.now() / 1000 + offset));
    }
  }
  setInterval(tick, 1000);

  var ui = null, loading = null;
  function status(text) {
    var el = document.getElementById("tc-status");
    if (el) el.textContent = text;
  }
  function load() {
    if (ui) return Promise.resolve(ui);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = "/static/vendor/tonconnect-ui.min.js";
        script.onload = function () {
          try {
            ui = new window.TON_CONNECT_UI.TonConnectUI({
              manifestUrl: location.origin + "/tonconnect-manifest.json",
              buttonRootId: "ton-connect"
            });
            var own = document.getElementById("tc-connect");
            if (own) own.hidden = true;
            resolve(ui);
          } catch (e) { reject(e); }
        };
        script.onerror = function () { reject(new Error("the TON Connect bundle did not load")); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }
  function fail(e) { status("TON Connect is unavailable (" + (e && e.message ? e.message : e) + "): use the links."); }
  document.addEventListener("click", function (ev) {
    var target = ev.target.closest ? ev.target : null;
    if (!target) return;
    if (target.closest("#tc-connect")) {
      ev.preventDefault();
      load().then(function (u) { if (!u.connected) u.openModal(); }, fail);
      return;
    }
    var btn = target.closest(".tc-send");
    if (!btn) return;
    ev.preventDefault();
    load().then(function (u) {
      if (!u.connected) { u.openModal(); status("Connect a wallet, then press Send again."); return; }
      return u.sendTransaction({
        validUntil: Math.floor(Date.now() / 1000) + 300,
        messages: [{ address: btn.dataset.address, amount: btn.dataset.amount, payload: btn.dataset.payload }]
      }).then(function () { status("Sent. It shows up here once the pool has processed it."); },
              function (e) { status("Not sent: " + (e && e.message ? e.message : e)); });
    }, fail);
  });
})();
