// The environment, build and publish dialog of the workspace: variables
// (names only come back), the build's live output, its download and the
// published site.
(function () {
  "use strict";
  var dialog = document.getElementById("envbuild");
  if (!dialog) return;
  var base = "/projects/" + dialog.dataset.project;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  function $(id) { return document.getElementById(id); }

  function call(method, path, body) {
    var opts = { method: method, headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(base + path, opts).then(function (res) {
      if (res.status === 204) return {};
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) throw new Error((data.error && data.error.message) || "Studio answered " + res.status + ".");
        return data;
      });
    });
  }

  // Environment variables.
  var list = $("env-list"), envStatus = $("env-status");
  function when(t) { return new Date(t).toLocaleString(); }
  function showVariables(vars) {
    list.replaceChildren();
    if (vars.length === 0) {
      var none = document.createElement("li");
      none.className = "py-1 opacity-70";
      none.textContent = "No variables yet.";
      list.append(none);
    }
    vars.forEach(function (v) {
      var li = document.createElement("li");
      li.className = "flex items-center justify-between gap-2 py-1";
      li.dataset.testid = "env-row";
      var name = document.createElement("span");
      name.className = "font-mono";
      name.textContent = v.name;
      var info = document.createElement("span");
      info.className = "opacity-70";
      info.textContent = "set · " + when(v.updated_at);
      var del = document.createElement("button");
      del.type = "button";
      del.className = "btn btn-ghost !py-0";
      del.textContent = "Delete";
      del.setAttribute("aria-label", "Delete " + v.name);
      del.addEventListener("click", function () {
        call("DELETE", "/env/" + encodeURIComponent(v.name)).then(function () {
          envStatus.textContent = "Deleted " + v.name + ". Restart the project for its dev server to see the change.";
          loadVariables();
        }, function (err) { envStatus.textContent = err.message; });
      });
      li.append(name, info, del);
      list.append(li);
    });
  }
  function loadVariables() {
    return call("GET", "/env").then(function (d) { showVariables(d.variables); }, function (err) { envStatus.textContent = err.message; });
  }
  $("env-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target, name = form.elements.name.value.trim();
    call("PUT", "/env/" + encodeURIComponent(name), { value: form.elements.value.value }).then(function (d) {
      form.reset();
      envStatus.textContent = "Saved " + name + ". " + d.message;
      loadVariables();
    }, function (err) { envStatus.textContent = err.message; });
  });

  // Build: the answer is a stream of server-sent events, read as it comes.
  var output = $("build-output"), buildStatus = $("build-status"), download = $("build-download"), buildButton = $("build-run");
  function appendLine(text) {
    var follow = output.scrollTop + output.clientHeight >= output.scrollHeight - 8;
    output.append(text + "\n");
    if (follow) output.scrollTop = output.scrollHeight;
  }
  function handleEvent(kind, data) {
    if (kind === "line") appendLine(data.text);
    if (kind === "failed") buildStatus.textContent = data.message;
    if (kind === "done") {
      if (data.exit_code === 0 && data.output_dir) {
        buildStatus.textContent = "Built into " + data.output_dir + "/.";
        download.hidden = false;
      } else if (data.timed_out) {
        buildStatus.textContent = "The build took too long and was stopped.";
      } else {
        buildStatus.textContent = data.exit_code === 0 ? "The build finished but left no dist/, build/ or out/ with an index.html." : "The build failed (exit code " + data.exit_code + ").";
      }
    }
  }
  buildButton.addEventListener("click", function () {
    buildButton.disabled = true;
    download.hidden = true;
    output.hidden = false;
    output.textContent = "";
    buildStatus.textContent = "Building…";
    fetch(base + "/build", { method: "POST", headers: { "X-CSRF-Token": csrf, "Accept": "text/event-stream, application/json" } }).then(function (res) {
      if (!res.ok) {
        return res.json().catch(function () { return {}; }).then(function (d) {
          throw new Error((d.error && d.error.message) || "Studio answered " + res.status + ".");
        });
      }
      var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) return;
          buffer += decoder.decode(r.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(function (block) {
            var kind = "message", data = "";
            block.split("\n").forEach(function (line) {
              if (line.indexOf("event: ") === 0) kind = line.slice(7);
              if (line.indexOf("data: ") === 0) data += line.slice(6);
            });
            if (data) handleEvent(kind, JSON.parse(data));
          });
          return pump();
        });
      }
      return pump();
    }).catch(function (err) { buildStatus.textContent = err.message; }).finally(function () { buildButton.disabled = false; });
  });

  // Publish.
  var publishStatus = $("publish-status"), isPublic = $("publish-public"), remove = $("publish-remove");
  function showSite(d) {
    remove.hidden = false;
    isPublic.checked = d.site.public;
    publishStatus.replaceChildren();
    var text = d.site.public ? "Public at " : "Private (only you) at ";
    var a = document.createElement("a");
    a.href = d.url;
    a.target = "_blank";
    a.rel = "noopener";
    a.className = "underline";
    a.dataset.testid = "site-link";
    a.textContent = d.url;
    if (!d.site.public) {
      // A private site opens through a fresh signed link, as the preview does.
      a.addEventListener("click", function (e) {
        e.preventDefault();
        var tab = window.open("about:blank", "_blank");
        call("POST", "/site/link").then(function (l) { tab.location = l.url; }, function (err) { tab.close(); publishStatus.append(" " + err.message); });
      });
    }
    publishStatus.append(text, a, " · published " + when(d.site.published_at));
  }
  function loadSite() {
    call("GET", "/site").then(showSite, function () { remove.hidden = true; publishStatus.textContent = "Not published."; });
  }
  $("publish-run").addEventListener("click", function () {
    publishStatus.textContent = "Publishing…";
    call("POST", "/site", { public: isPublic.checked }).then(showSite, function (err) { publishStatus.textContent = err.message; });
  });
  isPublic.addEventListener("change", function () {
    if (remove.hidden) return;
    call("PATCH", "/site", { public: isPublic.checked }).then(showSite, function (err) { publishStatus.textContent = err.message; });
  });
  remove.addEventListener("click", function () {
    call("DELETE", "/site").then(loadSite, function (err) { publishStatus.textContent = err.message; });
  });

  $("envbuild-open").addEventListener("click", function () {
    loadVariables();
    loadSite();
    dialog.showModal();
  });
})();
