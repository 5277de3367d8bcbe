// The workspace's terminal: tabs of shells in the project's container,
// each an xterm.js screen on a websocket (/projects/{id}/terminal). A tab's
// session id lives in sessionStorage, so a reload or a dropped connection
// finds the same shell, and the server replays its scrollback.
(function () {
  "use strict";
  var pane = document.getElementById("terminal-pane");
  if (!pane || !window.Terminal || !window.FitAddon) return;
  var project = pane.dataset.project;
  var body = pane.querySelector("[data-terminal-body]");
  var tabBar = pane.querySelector("[data-terminal-tabs]");
  var toggle = pane.querySelector("[data-terminal-toggle]");
  var addButton = pane.querySelector("[data-terminal-new]");
  var stored = "studio.terminals." + project;
  var tabs = [];
  var active = null;
  var encoder = new TextEncoder();

  function newID() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
  }

  function save() {
    sessionStorage.setItem(stored, JSON.stringify({
      open: !body.hidden,
      tabs: tabs.map(function (t) { return t.id; }),
    }));
  }

  function load() {
    try { return JSON.parse(sessionStorage.getItem(stored)) || {}; } catch (e) { return {}; }
  }

  function dim(text) { return "\x1b[2m" + text + "\x1b[0m"; }

  function socketURL(t) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + "/projects/" + project + "/terminal?session=" + t.id +
      "&cols=" + t.term.cols + "&rows=" + t.term.rows;
  }

  // connect opens the tab's websocket; a connection that drops comes back
  // by itself, one the server closed on purpose waits for Enter.
  function connect(t) {
    t.waiting = false;
    var ws = new WebSocket(socketURL(t));
    ws.binaryType = "arraybuffer";
    t.ws = ws;
    var reset = t.connected; // what is on screen comes back as the replay
    ws.onopen = function () {
      t.retries = 0;
      if (reset) t.term.reset();
      t.el.dataset.connected = "true";
    };
    ws.onmessage = function (e) {
      if (typeof e.data !== "string") {
        t.connected = true;
        t.term.write(new Uint8Array(e.data));
        return;
      }
      var m = JSON.parse(e.data);
      if (m.type === "notice") t.term.writeln(dim(m.text));
      if (m.type === "closed") {
        t.closed = m;
        t.term.writeln("\r\n" + dim(m.reason));
        t.term.writeln(dim(m.ended ? "Press Enter to start a new shell." : "Press Enter to show it here again."));
      }
    };
    ws.onclose = function () {
      delete t.el.dataset.connected;
      if (t.gone) return;
      if (t.closed) { t.waiting = true; return; }
      // Dropped: try again, less and less often, then leave it to the person.
      t.retries = (t.retries || 0) + 1;
      if (t.retries > 6) {
        t.closed = { reason: "Studio cannot be reached.", ended: false };
        t.term.writeln(dim(t.closed.reason + " Press Enter to try again."));
        t.waiting = true;
        t.retries = 0;
        return;
      }
      if (t.retries === 1) t.term.writeln("\r\n" + dim("Connection lost; reconnecting…"));
      setTimeout(function () { if (!t.gone) connect(t); }, Math.min(10000, 500 * Math.pow(2, t.retries - 1)));
    };
  }

  function send(t, data) {
    if (t.ws && t.ws.readyState === WebSocket.OPEN) t.ws.send(data);
  }

  function addTab(id) {
    var t = { id: id || newID() };
    t.el = document.createElement("div");
    t.el.className = "h-full";
    t.el.dataset.testid = "terminal";
    t.el.dataset.session = t.id;
    body.appendChild(t.el);
    t.term = new window.Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000, fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" });
    t.fit = new window.FitAddon.FitAddon();
    t.term.loadAddon(t.fit);
    t.term.open(t.el);
    // Ctrl+` belongs to the workspace (it shows and hides this pane).
    t.term.attachCustomKeyEventHandler(function (e) { return !(e.ctrlKey && e.key === "`"); });
    t.term.onData(function (d) {
      if (t.waiting) {
        if (d !== "\r") return;
        if (t.closed.ended) { t.id = newID(); t.el.dataset.session = t.id; save(); }
        t.closed = null;
        t.connected = false;
        t.term.reset();
        connect(t);
        return;
      }
      send(t, encoder.encode(d));
    });
    t.term.onBinary(function (d) {
      var b = new Uint8Array(d.length);
      for (var i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 255;
      send(t, b);
    });
    t.term.onResize(function (s) { send(t, JSON.stringify({ type: "resize", cols: s.cols, rows: s.rows })); });

    t.tab = document.createElement("span");
    t.tab.className = "flex items-center rounded";
    t.tab.setAttribute("role", "tab");
    t.tab.dataset.testid = "terminal-tab";
    var label = document.createElement("button");
    label.type = "button";
    label.className = "btn btn-ghost !py-0.5 text-xs";
    label.textContent = "Shell " + (tabs.length + 1);
    label.addEventListener("click", function () { show(t); });
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn btn-ghost !px-1 !py-0.5 text-xs";
    close.title = "Close this terminal (ends its shell)";
    close.setAttribute("aria-label", "Close " + label.textContent);
    close.dataset.testid = "terminal-close";
    close.textContent = "×";
    close.addEventListener("click", function () { closeTab(t); });
    t.tab.append(label, close);
    tabBar.appendChild(t.tab);
    tabs.push(t);
    save();
    show(t);
    connect(t);
    return t;
  }

  function show(t) {
    active = t;
    tabs.forEach(function (x) {
      x.el.hidden = x !== t;
      x.tab.setAttribute("aria-selected", x === t ? "true" : "false");
      x.tab.classList.toggle("bg-slate-200", x === t);
      x.tab.classList.toggle("dark:bg-slate-700", x === t);
    });
    fit();
    t.term.focus();
  }

  function closeTab(t) {
    t.gone = true;
    send(t, JSON.stringify({ type: "close" }));
    if (t.ws) t.ws.close();
    t.term.dispose();
    t.el.remove();
    t.tab.remove();
    tabs = tabs.filter(function (x) { return x !== t; });
    save();
    if (active === t) {
      if (tabs.length) show(tabs[tabs.length - 1]);
      else setOpen(false);
    }
  }

  function fit() {
    if (!body.hidden && active) {
      try { active.fit.fit(); } catch (e) { /* not laid out yet */ }
    }
  }

  function setOpen(open) {
    body.hidden = !open;
    addButton.hidden = !open;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open && !tabs.length) addTab();
    save();
    if (open && active) show(active);
  }

  toggle.addEventListener("click", function () { setOpen(body.hidden); });
  addButton.addEventListener("click", function () { addTab(); });
  document.body.addEventListener("studio:toggle-terminal", function () { setOpen(body.hidden); });
  new ResizeObserver(fit).observe(body);

  // A reload keeps the tabs it had, and their shells.
  var was = load();
  if (was.open) {
    body.hidden = false;
    (was.tabs || []).forEach(function (id) { addTab(id); });
    setOpen(true);
  }
  pane.dataset.ready = "true";
})();
