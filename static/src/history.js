// The version history island: what a run changed, and the project's
// timeline of checkpoints (each run, each saved version, each restore).
// Each changed file opens as a Monaco diff, side by side or inline; a file
// can be put back as it was before a run, the whole run undone, or a
// version restored (itself undoable: a restore keeps the files it
// replaces as a checkpoint on the timeline).
(function () {
  "use strict";
  var dlg = document.getElementById("history");
  if (!dlg) return;
  var project = dlg.dataset.project;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  function $(id) { return document.getElementById(id); }
  var title = $("history-h"), statusEl = $("history-status"), filesEl = $("history-files");
  var versionsEl = $("history-versions"), timelineEl = $("history-timeline");
  var fromEl = $("history-from"), toEl = $("history-to"), inlineEl = $("history-inline");
  var diffEl = $("history-diff"), undoRunBtn = $("history-undo-run"), nameEl = $("history-name");
  var run = null; // the run shown, or null for the timeline
  var diffEditor = null, models = [], seq = 0;

  function say(text) { statusEl.textContent = text; }
  function fail(err) { say(err.message); }

  function api(method, url, body) {
    var opts = { method: method, headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) throw new Error((data.error && data.error.message) || "The request failed (" + res.status + ").");
        return data;
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function checkpointName(cp) {
    return (cp.label || "Checkpoint") + " · " + new Date(cp.created_at).toLocaleString();
  }

  // The diff editor, made on first use; its models are replaced per file.
  function showDiff(before, after, path) {
    if (!window.studioLoadMonaco) return Promise.reject(new Error("The editor is not loaded; reload the page."));
    return window.studioLoadMonaco().then(function (monaco) {
      if (!diffEditor) {
        diffEl.textContent = "";
        var dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
        diffEditor = monaco.editor.createDiffEditor(diffEl, {
          automaticLayout: true, readOnly: true, originalEditable: false, renderSideBySide: !inlineEl.checked,
          useInlineViewWhenSpaceIsLimited: false, minimap: { enabled: false }, theme: dark ? "vs-dark" : "vs"
        });
      }
      var old = models;
      seq++;
      models = [
        monaco.editor.createModel(before, undefined, monaco.Uri.parse("inmemory://history/" + seq + "/before/" + path)),
        monaco.editor.createModel(after, undefined, monaco.Uri.parse("inmemory://history/" + seq + "/after/" + path))
      ];
      diffEditor.setModel({ original: models[0], modified: models[1] });
      old.forEach(function (m) { m.dispose(); });
      diffEl.dataset.path = path;
    });
  }

  function clearDiff(text) {
    if (diffEditor) {
      diffEditor.dispose();
      diffEditor = null;
      models.forEach(function (m) { m.dispose(); });
      models = [];
    }
    diffEl.textContent = "";
    delete diffEl.dataset.path;
    if (text) diffEl.appendChild(el("p", "p-4 text-sm opacity-70", text));
  }

  inlineEl.addEventListener("change", function () {
    if (diffEditor) diffEditor.updateOptions({ renderSideBySide: !inlineEl.checked });
  });

  function fileURL(path) {
    if (run) return "/runs/" + run + "/changes?path=" + encodeURIComponent(path);
    return "/projects/" + project + "/diff?from=" + fromEl.value + "&to=" + toEl.value + "&path=" + encodeURIComponent(path);
  }

  function openFile(path, row) {
    filesEl.querySelectorAll("[aria-current]").forEach(function (r) { r.removeAttribute("aria-current"); });
    row.setAttribute("aria-current", "true");
    say("Loading " + path + "…");
    return api("GET", fileURL(path)).then(function (data) {
      var f = data.file;
      if (f.too_large) {
        clearDiff(path + " is larger than 1 MiB; its diff is not shown.");
        say(path + ": " + f.status);
        return;
      }
      if (f.binary) {
        clearDiff(path + " is a binary file; its diff is not shown.");
        say(path + ": " + f.status);
        return;
      }
      return showDiff(f.before, f.after, path).then(function () { say(path + ": " + f.status); });
    }).catch(fail);
  }

  var marks = { added: "A", modified: "M", deleted: "D" };

  function renderFiles(files) {
    filesEl.textContent = "";
    if (!files.length) {
      filesEl.appendChild(el("li", "opacity-70", run ? "This run changed no files." : "No files differ."));
      clearDiff("");
      return Promise.resolve();
    }
    files.forEach(function (f) {
      var li = el("li", "flex items-center gap-1");
      var b = el("button", "flex min-w-0 flex-1 items-center gap-1 rounded px-1 py-0.5 text-left hover:bg-slate-100 aria-[current]:bg-slate-200 dark:hover:bg-slate-800 dark:aria-[current]:bg-slate-700");
      b.type = "button";
      b.setAttribute("data-testid", "history-file");
      b.dataset.path = f.path;
      b.title = f.status;
      b.appendChild(el("span", "w-4 shrink-0 font-mono text-xs opacity-70", marks[f.status] || "?"));
      b.appendChild(el("span", "truncate font-mono text-xs", f.path));
      b.addEventListener("click", function () { openFile(f.path, b); });
      li.appendChild(b);
      if (run) {
        var r = el("button", "btn btn-ghost !px-1 !py-0 text-xs", "Revert");
        r.type = "button";
        r.setAttribute("data-testid", "history-revert");
        r.title = f.status === "added" ? "Delete " + f.path + ", which the run created" : "Put " + f.path + " back as it was before the run";
        r.addEventListener("click", function () { revertFile(f); });
        li.appendChild(r);
      }
      filesEl.appendChild(li);
    });
    // The first file is shown; the promise settles when it is, so what
    // the caller says afterwards is not overwritten by its messages.
    return openFile(files[0].path, filesEl.querySelector("button"));
  }

  function revertFile(f) {
    var what = f.status === "added" ? "Delete " + f.path + ", which the run created?" : "Put " + f.path + " back exactly as it was before the run?";
    if (!window.confirm(what)) return;
    api("POST", "/runs/" + run + "/revert", { path: f.path }).then(function () {
      say(f.status === "added" ? f.path + " is deleted, as before the run." : f.path + " is back as it was before the run.");
    }).catch(fail);
  }

  // What a run changed.
  function openRun(id) {
    run = id;
    title.textContent = "What this run changed";
    versionsEl.hidden = true;
    undoRunBtn.hidden = false;
    open();
    say("Loading the run's changes…");
    api("GET", "/runs/" + id + "/changes").then(function (data) {
      say(data.files.length + (data.files.length === 1 ? " file changed." : " files changed."));
      renderFiles(data.files);
    }).catch(fail);
  }

  undoRunBtn.addEventListener("click", function () {
    if (!window.confirm("Put all of the project's files back as they were before this run?")) return;
    var id = run;
    fetch("/runs/" + id + "/undo", { method: "POST", headers: { "X-CSRF-Token": csrf, "HX-Request": "true" } }).then(function (res) {
      return res.text().then(function (body) {
        if (!res.ok) {
          var msg;
          try { msg = JSON.parse(body).error.message; } catch (e) { msg = "The run could not be undone (" + res.status + ")."; }
          throw new Error(msg);
        }
        var footer = document.querySelector("#run-" + id + " footer");
        if (footer) {
          footer.outerHTML = body;
          if (window.htmx) window.htmx.process(document.getElementById("run-" + id));
        }
        say("The files are back as they were before the run; the state it replaced is on the timeline.");
      });
    }).catch(fail);
  });

  // The timeline of versions.
  function openVersions(naming) {
    run = null;
    title.textContent = "Version history";
    versionsEl.hidden = false;
    undoRunBtn.hidden = true;
    open();
    loadTimeline(true).then(function () { if (naming) nameEl.focus(); });
  }

  function loadTimeline(reset) {
    say("Loading the versions…");
    return api("GET", "/projects/" + project + "/checkpoints").then(function (data) {
      var list = data.checkpoints;
      var from = fromEl.value, to = toEl.value;
      fromEl.textContent = "";
      toEl.textContent = "";
      var now = el("option", "", "The files now");
      now.value = "current";
      toEl.appendChild(now);
      list.forEach(function (cp) {
        var o = el("option", "", checkpointName(cp));
        o.value = cp.id;
        fromEl.appendChild(o);
        toEl.appendChild(o.cloneNode(true));
      });
      if (!reset && from) fromEl.value = from;
      if (!reset && to) toEl.value = to;
      if (!fromEl.value && list.length) fromEl.value = list[0].id;
      if (!toEl.value) toEl.value = "current";
      renderTimeline(list);
      if (!list.length) {
        say("No versions yet: save one, or run an agent.");
        renderFiles([]);
        return;
      }
      return loadDiffList();
    }).catch(fail);
  }

  function renderTimeline(list) {
    timelineEl.textContent = "";
    list.forEach(function (cp) {
      var li = el("li", "rounded border border-slate-200 p-1 dark:border-slate-800");
      li.setAttribute("data-testid", "history-version");
      li.dataset.id = cp.id;
      li.appendChild(el("div", "truncate font-medium", cp.label || "Checkpoint"));
      li.appendChild(el("div", "text-xs opacity-70", new Date(cp.created_at).toLocaleString() + " · " + cp.file_count + " files"));
      var actions = el("div", "mt-1 flex gap-1");
      var cmp = el("button", "btn btn-ghost !px-1 !py-0 text-xs", "Compare with now");
      cmp.type = "button";
      cmp.addEventListener("click", function () {
        fromEl.value = cp.id;
        toEl.value = "current";
        loadDiffList();
      });
      var rst = el("button", "btn btn-ghost !px-1 !py-0 text-xs", "Restore");
      rst.type = "button";
      rst.setAttribute("data-testid", "history-restore");
      rst.addEventListener("click", function () { restore(cp); });
      actions.appendChild(cmp);
      actions.appendChild(rst);
      li.appendChild(actions);
      timelineEl.appendChild(li);
    });
  }

  function loadDiffList() {
    if (!fromEl.value) return Promise.resolve();
    say("Comparing…");
    return api("GET", "/projects/" + project + "/diff?from=" + fromEl.value + "&to=" + toEl.value).then(function (data) {
      say(data.files.length + (data.files.length === 1 ? " file differs." : " files differ."));
      return renderFiles(data.files);
    }).catch(fail);
  }
  fromEl.addEventListener("change", loadDiffList);
  toEl.addEventListener("change", loadDiffList);

  function restore(cp) {
    var name = cp.label || checkpointName(cp);
    if (!window.confirm("Make the project's files those of “" + name + "”? The files now are kept as a checkpoint, so this can be undone.")) return;
    api("POST", "/projects/" + project + "/checkpoints/" + cp.id + "/restore").then(function () {
      return loadTimeline(true).then(function () {
        say("Restored “" + name + "”. To undo it, restore “" + timelineEl.firstChild.querySelector("div").textContent + "”.");
      });
    }).catch(fail);
  }

  $("history-save").addEventListener("submit", function (e) {
    e.preventDefault();
    var label = nameEl.value.trim();
    if (!label) { say("Give the version a name."); return; }
    api("POST", "/projects/" + project + "/checkpoints", { label: label }).then(function () {
      nameEl.value = "";
      return loadTimeline(true).then(function () { say("Saved “" + label + "”."); });
    }).catch(fail);
  });

  function open() {
    filesEl.textContent = "";
    clearDiff("");
    if (!dlg.open) dlg.showModal();
  }
  $("history-close").addEventListener("click", function () { dlg.close(); });

  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-run-changes]");
    if (b) { openRun(b.dataset.runChanges); return; }
    var h = e.target.closest("[data-history]");
    if (h) openVersions(h.dataset.history === "save");
  });
})();
