// The workspace's layout island: the splitters and the panes that can be
// put away (sizes saved per user on the server), the keyboard shortcuts,
// quick open, the file tree's context menu and dropped uploads, the
// preview's device sizes, its own window and its console.
(function () {
  "use strict";
  var ws = document.getElementById("workspace");
  if (!ws) return;
  var project = ws.dataset.project;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var previewOrigin = "";
  try { previewOrigin = new URL(ws.dataset.previewUrl).origin; } catch (e) { /* no preview address: no console */ }
  var body = document.body;
  var layout = {};
  try { layout = JSON.parse(ws.dataset.layout || "{}") || {}; } catch (e) { layout = {}; }

  function fileURL(path) { return "/projects/" + project + "/files/" + path.split("/").map(encodeURIComponent).join("/"); }
  function say(text) { var s = document.getElementById("editor-status"); if (s) s.textContent = text; }
  function announce(name, detail) { body.dispatchEvent(new CustomEvent(name, { detail: detail })); }

  // Saving: a moment after the last change, so a drag sends one request.
  var saveTimer = null;
  function saveLayout() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(function () {
      fetch("/settings/layout", {
        method: "PUT",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(layout),
      }).then(function (res) {
        ws.dataset.layoutSaved = res.ok ? "true" : "failed";
      }).catch(function () { ws.dataset.layoutSaved = "failed"; });
    }, 300);
  }

  // Splitters: drag (or use the arrow keys on) the bar after a pane to size it.
  var frame = document.getElementById("preview");
  var keys = { tree: "tree", editor: "editor" };
  document.querySelectorAll("[data-split]").forEach(function (bar) {
    var pane = bar.previousElementSibling;
    var key = keys[bar.dataset.split];
    function size(w, remember) {
      var max = pane.parentElement.clientWidth * 0.75;
      w = Math.round(Math.max(160, Math.min(max || w, w)));
      pane.style.setProperty("--pane-width", w + "px");
      pane.dataset.width = w;
      bar.setAttribute("aria-valuenow", w);
      if (remember && key) { layout[key] = w; saveLayout(); }
    }
    if (key && layout[key] > 0) size(layout[key], false);
    bar.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      bar.setPointerCapture(e.pointerId);
      var x0 = e.clientX, w0 = pane.getBoundingClientRect().width;
      frame.style.pointerEvents = "none"; // the iframe would swallow the moves
      function move(ev) { size(w0 + ev.clientX - x0, true); }
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
      size(pane.getBoundingClientRect().width + step, true);
    });
  });

  // Panes that can be put away: the tree and the chat (remembered), the
  // preview (while it has its own window).
  var treeToggle = document.getElementById("toggle-tree");
  var chatToggle = document.getElementById("toggle-chat");
  function setTree(shown, remember) {
    ws.classList.toggle("tree-collapsed", !shown);
    treeToggle.setAttribute("aria-pressed", String(shown));
    if (remember) { layout.tree_collapsed = !shown; saveLayout(); }
  }
  function setChat(shown, remember) {
    ws.classList.toggle("chat-collapsed", !shown);
    chatToggle.setAttribute("aria-pressed", String(shown));
    var chat = document.getElementById("chat");
    if (!shown && chat && !chat.hidden) {
      // The chat was the pane in front: the editor takes its place.
      chat.hidden = true;
      document.getElementById("editor").hidden = false;
    }
    if (shown) document.getElementById("chat-tab").click();
    if (remember) { layout.chat_collapsed = !shown; saveLayout(); }
  }
  setTree(!layout.tree_collapsed, false);
  if (layout.chat_collapsed) setChat(false, false);
  treeToggle.addEventListener("click", function () { setTree(ws.classList.contains("tree-collapsed"), true); });
  chatToggle.addEventListener("click", function () { setChat(ws.classList.contains("chat-collapsed"), true); });

  var popup = null;
  var showPreview = document.getElementById("show-preview");
  function setPreviewPane(shown) {
    ws.classList.toggle("preview-collapsed", !shown);
    showPreview.hidden = shown;
  }
  document.getElementById("preview-popout").addEventListener("click", function () {
    var path = document.getElementById("preview-path").value || "/";
    if (path.charAt(0) !== "/") path = "/" + path;
    // The window starts blank, on studio's origin, and loses its opener
    // before it loads the preview: the project's page must not reach back
    // to this tab (window.opener.location).
    popup = window.open("about:blank", "", "popup,width=1024,height=768");
    if (popup) {
      popup.opener = null;
      popup.location.replace(ws.dataset.previewUrl.replace(/\/$/, "") + path);
      setPreviewPane(false);
    }
    else say("The browser blocked the preview's window; allow pop-ups for studio.");
  });
  showPreview.addEventListener("click", function () {
    if (popup && !popup.closed) popup.close();
    popup = null;
    setPreviewPane(true);
  });
  setInterval(function () { if (popup && popup.closed) { popup = null; setPreviewPane(true); } }, 1000);

  // Device sizes: the frame takes a phone's or a tablet's size, turned
  // when asked; desktop fills the pane.
  var device = { name: "desktop", turned: false };
  function applyDevice() {
    var b = document.querySelector('[data-device="' + device.name + '"]');
    var size = b.dataset.size;
    document.querySelectorAll("[data-device]").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
    if (!size) {
      delete frame.dataset.device;
      frame.style.width = frame.style.height = "";
      return;
    }
    var wh = size.split("x");
    if (device.turned) wh.reverse();
    frame.dataset.device = device.name + (device.turned ? "-turned" : "");
    frame.style.width = wh[0] + "px";
    frame.style.height = wh[1] + "px";
  }
  document.querySelectorAll("[data-device]").forEach(function (b) {
    b.addEventListener("click", function () { device.name = b.dataset.device; applyDevice(); });
  });
  document.getElementById("device-rotate").addEventListener("click", function () { device.turned = !device.turned; applyDevice(); });

  // The console: what the preview proxy's script posts from the frame (or
  // the preview's own window). Only messages from that window and from the
  // preview's origin count.
  var lines = document.getElementById("console-lines");
  var count = document.getElementById("console-count");
  var consoleTab = document.querySelector('[data-pane="console"]');
  var unseen = 0;
  function consoleShown() { return consoleTab.getAttribute("aria-pressed") === "true"; }
  window.addEventListener("message", function (e) {
    var fromFrame = frame.contentWindow && e.source === frame.contentWindow;
    var fromPopup = popup && e.source === popup;
    if ((!fromFrame && !fromPopup) || !previewOrigin || e.origin !== previewOrigin) return;
    var d = e.data;
    if (!d || d.studio !== "console" || typeof d.text !== "string") return;
    var li = document.createElement("li");
    var level = ["log", "info", "warn", "error", "debug"].indexOf(d.level) >= 0 ? d.level : "log";
    li.className = "console-line console-" + level;
    li.dataset.level = level;
    li.textContent = d.text;
    var follow = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 8;
    lines.appendChild(li);
    while (lines.children.length > 1000) lines.firstElementChild.remove();
    if (follow) lines.scrollTop = lines.scrollHeight;
    if (level === "error" && !consoleShown()) {
      unseen++;
      count.textContent = unseen;
      count.hidden = false;
    }
  });
  consoleTab.addEventListener("click", function () { unseen = 0; count.hidden = true; });
  document.getElementById("console-clear").addEventListener("click", function () { lines.textContent = ""; });

  // Quick open: a fuzzy picker over the project's files.
  var picker = document.getElementById("quick-open");
  var pickInput = document.getElementById("quick-open-input");
  var pickList = document.getElementById("quick-open-list");
  var files = null;
  var picked = 0;
  function score(path, q) {
    // Every typed letter in order; runs, word starts and the name score higher.
    var p = path.toLowerCase(), s = 0, at = -1, run = 0;
    for (var i = 0; i < q.length; i++) {
      var j = p.indexOf(q[i], at + 1);
      if (j < 0) return -1;
      run = j === at + 1 ? run + 1 : 0;
      s += 1 + run * 2 + (j === 0 || "/._-".indexOf(p[j - 1]) >= 0 ? 3 : 0);
      at = j;
    }
    if (p.slice(p.lastIndexOf("/") + 1).indexOf(q) >= 0) s += 10;
    return s - path.length / 100;
  }
  function renderPicks() {
    var q = pickInput.value.trim().toLowerCase();
    var matches = (files || []).map(function (f) { return { path: f, s: q ? score(f, q) : 0 }; })
      .filter(function (m) { return m.s >= 0; })
      .sort(function (a, b) { return b.s - a.s || a.path.localeCompare(b.path); })
      .slice(0, 50);
    picked = Math.min(picked, Math.max(0, matches.length - 1));
    pickList.textContent = "";
    matches.forEach(function (m, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === picked));
      li.className = "cursor-pointer truncate rounded px-2 py-1 font-mono text-xs";
      li.dataset.path = m.path;
      li.dataset.testid = "quick-open-item";
      li.textContent = m.path;
      pickList.appendChild(li);
    });
    if (!matches.length) {
      var none = document.createElement("li");
      none.className = "px-2 py-1 opacity-70";
      none.textContent = files ? "No file matches." : "Loading the files…";
      pickList.appendChild(none);
    }
  }
  function openPicker() {
    pickInput.value = "";
    picked = 0;
    files = null;
    renderPicks();
    if (!picker.open) picker.showModal();
    pickInput.focus();
    fetch("/projects/" + project + "/files", { headers: { "Accept": "application/json" } })
      .then(function (res) { if (!res.ok) throw new Error(res.status); return res.json(); })
      .then(function (b) {
        files = b.files.filter(function (f) { return f.type === "file"; }).map(function (f) { return f.path; });
        renderPicks();
      })
      .catch(function () { files = []; renderPicks(); say("The file list could not be loaded."); });
  }
  function choose(path) {
    picker.close();
    // The focus goes back to what had it (often a button): the rest of
    // the Enter that chose must not press that.
    if (document.activeElement && document.activeElement !== body) document.activeElement.blur();
    if (path) announce("studio:open-file", { path: path });
  }
  pickInput.addEventListener("input", function () { picked = 0; renderPicks(); });
  pickInput.addEventListener("keydown", function (e) {
    var n = pickList.querySelectorAll("[data-path]").length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (n) picked = (picked + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderPicks();
    } else if (e.key === "Enter") {
      e.preventDefault();
      var li = pickList.querySelector('[aria-selected="true"]');
      choose(li && li.dataset.path);
    }
  });
  pickList.addEventListener("click", function (e) {
    var li = e.target.closest("[data-path]");
    if (li) choose(li.dataset.path);
  });
  picker.addEventListener("click", function (e) { if (e.target === picker) picker.close(); });
  document.getElementById("quick-open-button").addEventListener("click", openPicker);

  // Keyboard: Ctrl/Cmd+P quick open, Ctrl/Cmd+B the tree, Ctrl+` the
  // terminal, Ctrl/Cmd+S save (Monaco has its own when it has the focus).
  window.addEventListener("keydown", function (e) {
    var mod = e.ctrlKey || e.metaKey;
    if (!mod || e.altKey) return;
    var k = e.key.toLowerCase();
    if (k === "p" && !e.shiftKey) {
      e.preventDefault(); e.stopPropagation();
      openPicker();
    } else if (k === "b" && !e.shiftKey) {
      e.preventDefault(); e.stopPropagation();
      setTree(ws.classList.contains("tree-collapsed"), true);
    } else if (e.code === "Backquote" && e.ctrlKey) {
      e.preventDefault(); e.stopPropagation();
      announce("studio:toggle-terminal");
    } else if (k === "s" && !e.target.closest(".monaco-editor")) {
      e.preventDefault();
      announce("studio:save");
    }
  }, true);

  // The tree's context menu: new file or folder (in the folder clicked),
  // rename, delete, download. The actions go through the tree's own forms'
  // endpoints and answer with the tree, as the forms do.
  var tree = document.getElementById("files");
  var menu = document.getElementById("tree-menu");
  var menuTarget = null; // {path, dir}
  function treeState() {
    var open = [];
    document.querySelectorAll("#tree details[open] > input[name=open]").forEach(function (i) { open.push(i.value); });
    return { open: open, reveal: document.getElementById("current-file").value };
  }
  function treeRequest(action, values) {
    return window.htmx.ajax("POST", "/projects/" + project + "/files:" + action, {
      target: "#tree", swap: "outerHTML", source: tree,
      values: Object.assign(treeState(), values), headers: { "X-CSRF-Token": csrf },
    });
  }
  function folderOf(t) { return !t ? "" : t.dir ? t.path : t.path.split("/").slice(0, -1).join("/"); }
  function within(dir, name) { return (dir ? dir + "/" : "") + name.replace(/^\/+/, ""); }
  function closeMenu() { menu.hidden = true; menuTarget = null; }
  tree.addEventListener("contextmenu", function (e) {
    var row = e.target.closest("[data-file], [data-dir]");
    e.preventDefault();
    menuTarget = row ? { path: row.dataset.file || row.dataset.dir, dir: !!row.dataset.dir } : null;
    menu.querySelectorAll("[data-needs-target]").forEach(function (b) { b.disabled = !menuTarget; });
    menu.querySelector('[data-action="download"]').textContent = menuTarget && !menuTarget.dir ? "Download" : "Download the project (zip)";
    menu.hidden = false;
    menu.style.left = Math.min(e.clientX, window.innerWidth - menu.offsetWidth - 8) + "px";
    menu.style.top = Math.min(e.clientY, window.innerHeight - menu.offsetHeight - 8) + "px";
    menu.querySelector("button:not(:disabled)").focus();
  });
  document.addEventListener("click", function (e) { if (!menu.hidden && !menu.contains(e.target)) closeMenu(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !menu.hidden) closeMenu(); });
  menu.addEventListener("click", function (e) {
    var b = e.target.closest("[data-action]");
    if (!b) return;
    var t = menuTarget, name;
    closeMenu();
    switch (b.dataset.action) {
      case "new-file":
      case "new-folder":
        var folder = b.dataset.action === "new-folder";
        name = window.prompt(folder ? "New folder name" : "New file name", "");
        if (name) treeRequest("create", { path: within(folderOf(t), name) + (folder ? "/" : "") });
        break;
      case "rename":
        name = window.prompt("New path for " + t.path, t.path);
        if (name && name !== t.path) treeRequest("rename", { from: t.path, to: name });
        break;
      case "delete":
        if (window.confirm("Delete " + t.path + (t.dir ? " and everything in it" : "") + "?")) treeRequest("delete", { path: t.path });
        break;
      case "download":
        var a = document.createElement("a");
        a.href = t && !t.dir ? fileURL(t.path) : "/projects/" + project + "/export.zip";
        a.download = t && !t.dir ? t.path.split("/").pop() : "";
        body.appendChild(a);
        a.click();
        a.remove();
        break;
    }
  });

  // Dropped files and folders upload into the folder they are dropped on
  // (or the top), through the files API.
  var maxDropped = 1000;
  function entries(entry, prefix, out) {
    return new Promise(function (resolve) {
      if (out.length >= maxDropped) return resolve();
      if (entry.isFile) {
        entry.file(function (f) { out.push({ path: prefix + entry.name, file: f }); resolve(); }, function () { resolve(); });
      } else if (entry.isDirectory) {
        if (entry.name === "node_modules" || entry.name === ".git") return resolve();
        var reader = entry.createReader(), all = [];
        (function more() {
          reader.readEntries(function (batch) {
            if (!batch.length) {
              Promise.all(all.map(function (c) { return entries(c, prefix + entry.name + "/", out); })).then(resolve);
              return;
            }
            all = all.concat(Array.prototype.slice.call(batch));
            more();
          }, function () { resolve(); });
        })();
      } else resolve();
    });
  }
  tree.addEventListener("dragover", function (e) {
    if (!e.dataTransfer || Array.prototype.indexOf.call(e.dataTransfer.types, "Files") < 0) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    tree.classList.add("drop-target");
  });
  tree.addEventListener("dragleave", function (e) { if (!tree.contains(e.relatedTarget)) tree.classList.remove("drop-target"); });
  tree.addEventListener("drop", function (e) {
    if (!e.dataTransfer) return;
    e.preventDefault();
    tree.classList.remove("drop-target");
    var row = e.target.closest("[data-file], [data-dir]");
    var dir = folderOf(row ? { path: row.dataset.file || row.dataset.dir, dir: !!row.dataset.dir } : null);
    var items = Array.prototype.slice.call(e.dataTransfer.items || []);
    var found = [];
    var walks = items.map(function (it) {
      var entry = it.webkitGetAsEntry && it.webkitGetAsEntry();
      if (entry) return entries(entry, "", found);
      var f = it.kind === "file" && it.getAsFile();
      if (f) found.push({ path: f.name, file: f });
      return Promise.resolve();
    });
    if (!items.length) Array.prototype.forEach.call(e.dataTransfer.files, function (f) { found.push({ path: f.name, file: f }); });
    Promise.all(walks).then(function () { upload(dir, found); });
  });
  function upload(dir, found) {
    if (!found.length) return;
    var done = 0, failed = [];
    say("Uploading " + found.length + " file" + (found.length === 1 ? "" : "s") + "…");
    (function next(i) {
      if (i >= found.length) {
        announce("studio:files-changed");
        say(failed.length ? "Uploaded " + done + "; not uploaded: " + failed.join(", ") : "Uploaded " + done + " file" + (done === 1 ? "" : "s") + ".");
        return;
      }
      var f = found[i], path = within(dir, f.path);
      fetch(fileURL(path), { method: "PUT", headers: { "X-CSRF-Token": csrf, "Content-Type": "application/octet-stream" }, body: f.file })
        .then(function (res) {
          if (!res.ok) return res.json().catch(function () { return {}; }).then(function (b) {
            failed.push(path + (b.error ? " (" + b.error.message + ")" : " (" + res.status + ")"));
          });
          done++;
        })
        .catch(function () { failed.push(path); })
        .then(function () { next(i + 1); });
    })(0);
  }

  ws.dataset.layoutReady = "true";
})();
