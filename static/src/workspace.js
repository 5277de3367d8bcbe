// The workspace island: Monaco tabs that save with If-Match, the conflict
// dialog, the splitters and the preview frame, following the project's
// events. The file tree, its forms and the logs are htmx; this file hears
// their events (studio:file-created, -renamed, -deleted) to keep the tabs
// right, and tells them which file is open.
(function () {
  "use strict";
  var ws = document.getElementById("workspace");
  if (!ws) return;
  var project = ws.dataset.project;
  var previewURL = ws.dataset.previewUrl.replace(/\/$/, "");
  var editorEl = document.getElementById("editor");
  var statusEl = document.getElementById("editor-status");
  var tabsEl = document.getElementById("tabs");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var monacoReady = null;
  var editor = null;
  var open = {}; // path → {model, etag, saved (version id), tab}
  var current = null;

  function say(text) { statusEl.textContent = text; }
  function fileURL(path) { return "/projects/" + project + "/files/" + path.split("/").map(encodeURIComponent).join("/"); }

  function loadMonaco() {
    if (monacoReady) return monacoReady;
    monacoReady = new Promise(function (resolve, reject) {
      var base = ws.dataset.monaco;
      var s = document.createElement("script");
      s.src = base + "/vs/loader.js";
      s.onerror = function () { monacoReady = null; s.remove(); reject(new Error("The editor could not be loaded; click the file again to retry.")); };
      s.onload = function () {
        window.require.config({ paths: { vs: base + "/vs" } });
        window.require(["vs/editor/editor.main"], function () {
          editorEl.textContent = "";
          var dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
          editor = window.monaco.editor.create(editorEl, { automaticLayout: true, theme: dark ? "vs-dark" : "vs", minimap: { enabled: false } });
          editor.addCommand(window.monaco.KeyMod.CtrlCmd | window.monaco.KeyCode.KeyS, function () { save(current, false); });
          window.studioEditor = editor;
          resolve(window.monaco);
        }, function () {
          reject(new Error("The editor could not be loaded (a part of it did not arrive); reload the page to try again."));
        });
      };
      document.head.appendChild(s);
    });
    return monacoReady;
  }
  window.studioLoadMonaco = loadMonaco; // the version history's diffs use it too

  function languageOf(path) {
    var ext = path.split(".").pop();
    return { ts: "typescript", tsx: "typescript", js: "javascript", jsx: "javascript", mjs: "javascript", json: "json",
      css: "css", html: "html", md: "markdown", svg: "xml" }[ext] || "plaintext";
  }

  function dirty(path) { var f = open[path]; return f && f.model.getAlternativeVersionId() !== f.saved; }

  function renderTab(path) {
    var f = open[path];
    f.tab.textContent = (dirty(path) ? "● " : "") + path.split("/").pop();
    f.tab.setAttribute("aria-selected", path === current ? "true" : "false");
    f.tab.className = "btn btn-ghost !py-0.5" + (path === current ? " !bg-slate-200 dark:!bg-slate-700" : "");
    f.tab.title = path + (dirty(path) ? " (unsaved)" : "");
  }

  function highlight() {
    document.querySelectorAll("[data-file]").forEach(function (b) {
      b.classList.toggle("font-semibold", b.dataset.file === current);
      b.setAttribute("aria-current", b.dataset.file === current ? "true" : "false");
    });
  }

  // The file forms and the tree's refreshes name the open file.
  var fileActions = document.getElementById("file-actions");
  function setCurrent(path) {
    if (path !== current) {
      // A rename begun for another file does not carry over.
      document.getElementById("rename-box").open = false;
      document.getElementById("rename-to").value = path || "";
    }
    current = path;
    fileActions.hidden = !path;
    document.querySelectorAll("[data-current-file], #current-file").forEach(function (i) { i.value = path || ""; });
    if (path) document.getElementById("delete-file-form").setAttribute("hx-confirm", "Delete " + path + "?");
  }

  function show(path) {
    showChat(false);
    setCurrent(path);
    editor.setModel(open[path].model);
    Object.keys(open).forEach(renderTab);
    highlight();
  }

  function fetchFile(path) {
    return fetch(fileURL(path), { headers: { "X-CSRF-Token": csrf } }).then(function (res) {
      if (!res.ok) throw new Error("could not open " + path + " (" + res.status + ")");
      return res.text().then(function (text) { return { text: text, etag: res.headers.get("ETag") }; });
    });
  }

  function openFile(path) {
    loadMonaco().then(function (monaco) {
      if (open[path]) { show(path); return; }
      return fetchFile(path).then(function (r) {
        var model = monaco.editor.createModel(r.text, languageOf(path), monaco.Uri.parse("file:///" + path));
        var tab = document.createElement("button");
        tab.type = "button";
        tab.setAttribute("role", "tab");
        tab.dataset.tab = path;
        tab.addEventListener("click", function () { show(path); });
        tabsEl.appendChild(tab);
        open[path] = { model: model, etag: r.etag, saved: model.getAlternativeVersionId(), tab: tab };
        model.onDidChangeContent(function () { renderTab(path); });
        show(path);
        say("Opened " + path);
      });
    }).catch(function (e) { say(e.message); });
  }

  function save(path, overwrite) {
    var f = open[path];
    if (!f) return;
    var headers = { "X-CSRF-Token": csrf, "Content-Type": "application/octet-stream" };
    if (!overwrite && f.etag) headers["If-Match"] = f.etag;
    var version = f.model.getAlternativeVersionId();
    say("Saving " + path + "…");
    fetch(fileURL(path), { method: "PUT", headers: headers, body: f.model.getValue() }).then(function (res) {
      if (res.status === 412) {
        resolveConflict(path);
        return;
      }
      if (!res.ok) return res.text().then(function (t) { throw new Error("could not save " + path + " (" + res.status + ")"); });
      return res.json().then(function (body) {
        f.etag = body.etag;
        f.saved = version;
        renderTab(path);
        say("Saved " + path);
      });
    }).catch(function (e) { say(e.message); });
  }

  // A save refused because the file changed on disk: the user chooses.
  var dialog = document.getElementById("conflict");
  function resolveConflict(path) {
    document.getElementById("conflict-path").textContent = path;
    dialog.onclose = function () {
      if (dialog.returnValue === "overwrite") save(path, true);
      else if (dialog.returnValue === "reload") reloadFromDisk(path);
      else say(path + " was not saved: it changed on disk.");
    };
    dialog.showModal();
  }

  function reloadFromDisk(path) {
    var f = open[path];
    fetchFile(path).then(function (r) {
      f.model.setValue(r.text);
      f.etag = r.etag;
      f.saved = f.model.getAlternativeVersionId();
      renderTab(path);
      say(path + " reloaded from disk.");
    }).catch(function (e) { say(e.message); });
  }

  // A file changed on disk (by the agent, another tab): reload it if it has
  // no unsaved edits; otherwise say so and keep the user's text.
  function changedOnDisk(path) {
    var f = open[path];
    if (!f) return;
    fetchFile(path).then(function (r) {
      if (r.etag === f.etag) return;
      if (dirty(path)) { say(path + " changed on disk; your unsaved edits are kept. Saving will ask before overwriting."); return; }
      f.model.setValue(r.text);
      f.etag = r.etag;
      f.saved = f.model.getAlternativeVersionId();
      renderTab(path);
      say(path + " was updated on disk and reloaded.");
    }).catch(function () { /* deleted: leave it open */ });
  }

  // The chat and the editor share the middle pane.
  var chatEl = document.getElementById("chat");
  var chatTab = document.getElementById("chat-tab");
  var chatLog = document.getElementById("chat-log");
  var chatForm = document.getElementById("chat-form");
  var chatInput = document.getElementById("chat-message");
  function showChat(on) {
    chatEl.hidden = !on;
    editorEl.hidden = on;
    chatTab.setAttribute("aria-pressed", on ? "true" : "false");
    chatTab.classList.toggle("!bg-slate-200", on);
    chatTab.classList.toggle("dark:!bg-slate-700", on);
    if (on) chatLog.scrollTop = chatLog.scrollHeight;
  }
  chatTab.addEventListener("click", function () { showChat(true); chatInput.focus(); });
  chatLog.scrollTop = chatLog.scrollHeight;
  function nearBottom() { return chatLog.scrollTop + chatLog.clientHeight >= chatLog.scrollHeight - 40; }
  // A new stream replays a run from its first event: start clean. (The
  // browser's own reconnects resume after the last event and keep what is
  // there.)
  var sources = new WeakSet();
  chatLog.addEventListener("htmx:sseOpen", function (e) {
    var run = e.target.closest(".chat-run");
    if (!run || sources.has(e.detail.source)) return;
    sources.add(e.detail.source);
    run.querySelector(".steps").textContent = "";
    run.querySelector(".answer").textContent = "";
  });
  chatLog.addEventListener("htmx:sseBeforeMessage", function () { chatLog.dataset.follow = nearBottom() ? "1" : ""; });
  chatLog.addEventListener("htmx:sseMessage", function () { if (chatLog.dataset.follow) chatLog.scrollTop = chatLog.scrollHeight; });
  chatLog.addEventListener("click", function (e) {
    var b = e.target.closest("[data-open-file]");
    if (b) { e.preventDefault(); openFile(b.dataset.openFile); }
  });
  chatInput.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); chatForm.requestSubmit(); }
  });
  // The files open in the editor go with the message, as context.
  chatForm.addEventListener("submit", function () {
    chatForm.querySelectorAll("input[name=open_files]").forEach(function (i) { i.remove(); });
    Object.keys(open).forEach(function (p) {
      var i = document.createElement("input");
      i.type = "hidden"; i.name = "open_files"; i.value = p;
      chatForm.appendChild(i);
    });
  }, true);
  chatForm.addEventListener("htmx:afterRequest", function (e) {
    if (!e.detail.successful || e.detail.xhr.getResponseHeader("HX-Retarget")) return;
    chatInput.value = "";
    document.getElementById("chat-error").textContent = "";
    var empty = document.getElementById("chat-empty");
    if (empty) empty.remove();
    chatLog.scrollTop = chatLog.scrollHeight;
  });

  // Splitters: drag (or use the arrow keys on) the bar after a pane to size
  // it; sizes are remembered in this browser.
  document.querySelectorAll("[data-split]").forEach(function (bar) {
    var pane = bar.previousElementSibling;
    var key = "studio.pane." + bar.dataset.split;
    function size(w) {
      var max = pane.parentElement.clientWidth * 0.7;
      w = Math.round(Math.max(160, Math.min(max, w)));
      pane.style.setProperty("--pane-width", w + "px");
      pane.dataset.width = w;
      bar.setAttribute("aria-valuenow", w);
      try { localStorage.setItem(key, w); } catch (e) { /* private mode */ }
    }
    var saved = parseInt(localStorage.getItem(key), 10);
    if (saved > 0) size(saved);
    bar.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      bar.setPointerCapture(e.pointerId);
      var x0 = e.clientX, w0 = pane.getBoundingClientRect().width;
      var frame = document.getElementById("preview");
      frame.style.pointerEvents = "none"; // the iframe would swallow the moves
      function move(ev) { size(w0 + ev.clientX - x0); }
      function up() {
        bar.removeEventListener("pointermove", move);
        bar.removeEventListener("pointerup", up);
        frame.style.pointerEvents = "";
      }
      bar.addEventListener("pointermove", move);
      bar.addEventListener("pointerup", up);
    });
    bar.addEventListener("keydown", function (e) {
      var step = e.key === "ArrowLeft" ? -24 : e.key === "ArrowRight" ? 24 : 0;
      if (!step) return;
      e.preventDefault();
      size(pane.getBoundingClientRect().width + step);
    });
  });

  document.getElementById("files").addEventListener("click", function (e) {
    var b = e.target.closest("[data-file]");
    if (b) openFile(b.dataset.file);
  });
  // The tree is swapped by htmx: mark the open file in the new one.
  document.body.addEventListener("htmx:afterSettle", highlight);

  function closeTab(path) {
    var f = open[path];
    if (!f) return;
    f.tab.remove();
    f.model.dispose();
    delete open[path];
    var rest = Object.keys(open);
    if (rest.length) show(rest[0]); else { setCurrent(null); editor.setModel(null); highlight(); }
  }
  // What the file forms did, from their answers' HX-Trigger.
  document.body.addEventListener("studio:file-created", function (e) {
    var path = e.detail.path;
    if (!/(^|\/)\.gitkeep$/.test(path)) openFile(path);
    say("Created " + path);
  });
  document.body.addEventListener("studio:file-renamed", function (e) {
    closeTab(e.detail.from);
    openFile(e.detail.to);
    say("Renamed " + e.detail.from + " to " + e.detail.to);
  });
  document.body.addEventListener("studio:file-deleted", function (e) {
    closeTab(e.detail.path);
    say("Deleted " + e.detail.path);
  });

  // Preview: path bar, reload, and the switch to logs.
  var frame = document.getElementById("preview");
  var pathInput = document.getElementById("preview-path");
  function reloadPreview() {
    var p = pathInput.value || "/";
    if (p.charAt(0) !== "/") p = "/" + p;
    frame.src = previewURL + p;
  }
  document.getElementById("preview-reload").addEventListener("click", reloadPreview);
  pathInput.addEventListener("keydown", function (e) { if (e.key === "Enter") reloadPreview(); });
  // The logs pane connects its stream (htmx's sse-swap) when first shown
  // and follows the end unless scrolled up.
  var logs = document.getElementById("logs");
  var follow = true;
  logs.addEventListener("htmx:sseBeforeMessage", function () { follow = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 8; });
  logs.addEventListener("htmx:sseMessage", function () { if (follow) logs.scrollTop = logs.scrollHeight; });
  // The panes beside the editor: the preview, the logs (their stream
  // connects when first shown) and Git (fetched each time it is shown).
  var git = document.getElementById("git");
  var panes = { preview: frame, logs: logs, git: git };
  document.querySelectorAll("[data-pane]").forEach(function (b) {
    b.addEventListener("click", function () {
      var on = b.dataset.pane;
      Object.keys(panes).forEach(function (name) { panes[name].classList.toggle("hidden", name !== on); });
      document.querySelectorAll("[data-pane]").forEach(function (x) { x.setAttribute("aria-pressed", x === b ? "true" : "false"); });
      if (on === "logs" && !logs.hasAttribute("sse-connect")) {
        logs.setAttribute("sse-connect", logs.dataset.logs);
        window.htmx.process(logs);
      }
      if (on === "git") window.htmx.trigger(git, "studio:git-open");
    });
  });

  // The project's events: the header and the tree fetch themselves again
  // on the body events named here; the editor reloads what changed on disk.
  function announce(name) { document.body.dispatchEvent(new CustomEvent(name)); }
  var events = new EventSource("/projects/" + project + "/events");
  events.addEventListener("status", function (e) {
    var s = JSON.parse(e.data).status;
    var badge = document.getElementById("ws-status");
    badge.textContent = s;
    badge.className = "badge badge-" + s;
    announce("studio:status");
    if (s === "active" && frame.dataset.stopped) {
      // It was stopped when the page loaded: go through a fresh signed link.
      frame.src = "/projects/" + project + "/preview";
      delete frame.dataset.stopped;
      var note = document.getElementById("preview-stopped");
      if (note) note.remove();
    }
  });
  // Paused while idle, or resumed: the header shows it.
  events.addEventListener("paused", function () { announce("studio:status"); });
  events.addEventListener("resumed", function () { announce("studio:status"); });
  events.addEventListener("file_changed", function (e) { changedOnDisk(JSON.parse(e.data).path); announce("studio:files-changed"); });
  events.addEventListener("files_restored", function () { Object.keys(open).forEach(changedOnDisk); announce("studio:files-changed"); });
  window.addEventListener("beforeunload", function (e) {
    if (Object.keys(open).some(dirty)) { e.preventDefault(); e.returnValue = ""; }
  });
  ws.dataset.ready = "true"; // every handler is in place
})();
