// Live updates for the agent console: a WebSocket tells us *what* changed (ids only);
// we re-fetch the server-rendered fragment of each section that cares.
(function () {
  "use strict";
  var pending = new Map();
  var attempt = 0;

  function refresh(el) {
    if (pending.has(el)) return;
    pending.set(el, setTimeout(function () {
      pending.delete(el);
      fetch(el.dataset.partial, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (response.status === 401) { window.location.href = "/agent/login"; return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null || html === undefined) return;
          el.innerHTML = html;
          if (el.id === "transcript") scrollToEnd(el);
        })
        .catch(function () { /* the next event or the periodic refresh will try again */ });
    }, 80));
  }

  function concerns(el, event) {
    var kinds = (el.dataset.kinds || "").split(",");
    if (kinds.indexOf(event.kind) < 0) return false;
    var chat = el.dataset.chat;
    return !chat || event.chat_id === null || String(event.chat_id) === chat;
  }

  function onEvent(event) {
    document.querySelectorAll("[data-partial]").forEach(function (el) {
      if (concerns(el, event)) refresh(el);
    });
    var page = document.querySelector("[data-chat]");
    var here = page && String(event.chat_id) === page.dataset.chat;
    if (event.kind === "message" && !here && document.hidden !== false) flashTitle();
    if (event.kind === "chat" && String(event.agent_id) === document.body.dataset.agent && !here) {
      flashTitle();
      beep();
    }
  }

  function scrollToEnd(el) { el.scrollTop = el.scrollHeight; }

  // A short tone when a chat is assigned to this agent (browsers allow it after her first click).
  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      var context = new Context();
      var tone = context.createOscillator();
      tone.frequency.value = 880;
      tone.connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 0.2);
    } catch (e) { /* no audio: the title still flashes */ }
  }

  var originalTitle = document.title;
  function flashTitle() {
    if (document.title.indexOf("【新消息】") !== 0) document.title = "【新消息】" + originalTitle;
  }
  window.addEventListener("focus", function () { document.title = originalTitle; });

  function setLive(on) {
    var dot = document.getElementById("live-state");
    if (dot) { dot.className = on ? "live on" : "live off"; dot.title = on ? "实时连接正常" : "实时连接已断开，正在重连"; }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/agent/ws");
    socket.onopen = function () {
      attempt = 0;
      setLive(true);
      // we may have missed events while disconnected
      document.querySelectorAll("[data-partial]").forEach(refresh);
    };
    socket.onmessage = function (message) {
      try { onEvent(JSON.parse(message.data)); } catch (e) { /* ignore malformed */ }
    };
    socket.onclose = function (close) {
      setLive(false);
      if (close.code === 4401) { window.location.href = "/agent/login"; return; }
      attempt += 1;
      setTimeout(connect, Math.min(10000, 500 * attempt));
    };
  }

  document.addEventListener("click", function (click) {
    var button = click.target.closest("[data-canned]");
    if (!button) return;
    var box = document.getElementById(button.dataset.target || "reply-text");
    if (!box) return;
    box.value = box.value ? box.value + button.dataset.canned : button.dataset.canned;
    box.focus();
  });

  document.addEventListener("submit", function (submit) {
    var form = submit.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) submit.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var transcript = document.getElementById("transcript");
    if (transcript) scrollToEnd(transcript);
    if (document.body.dataset.agent) connect();
    // wait times move on even when nothing happens
    setInterval(function () { document.querySelectorAll("[data-partial][data-tick]").forEach(refresh); }, 30000);
    var transcript = document.getElementById("transcript");
    if (transcript) transcript.scrollTop = transcript.scrollHeight;
  });
})();
