package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"studio/internal/testwait"
)

// TestWorkspaceLayout: the workspace fills a 1440×900 window with the
// editor at least half of it; a dragged splitter and a collapsed tree
// stay so after a reload; Ctrl+P opens a file; the preview takes device
// sizes and its console shows the page's console.error and uncaught
// exception; at 390×844 nothing scrolls sideways.
func TestWorkspaceLayout(t *testing.T) {
	s := startStudio(t)
	ctx := browser(t)
	type css = chromedp.CSS
	const email, password = "lin@example.com", "a long password"
	openNewWorkspace(t, ctx, s, email, password, "Layout App")
	projectID := strings.TrimPrefix(strings.TrimSuffix(workspaceURLOf(t, ctx), "/"), s.base+"/projects/")
	// A page that writes to its console and throws, beside the app.
	writeThroughAPI(t, s, email, password, projectID, "console.html", `<!doctype html><html><head><title>console</title></head>
<body><h1>Console page</h1><script>
console.error("console error from the page", {code: 7});
setTimeout(function () { throw new Error("uncaught from the page"); }, 0);
</script></body></html>`)

	num := func(expr string) float64 {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	width := func(sel string) float64 {
		return num(`document.querySelector("` + sel + `").getBoundingClientRect().width`)
	}
	if w := width("#editor-pane"); w < 720 {
		t.Fatalf("the editor is %.0f px wide in a 1440 px window", w)
	}
	if bottom := num(`document.getElementById("workspace").getBoundingClientRect().bottom`); bottom < 860 || bottom > 900 {
		t.Fatalf("the workspace ends at %.0f px in a 900 px window", bottom)
	}
	if sw := num(`document.documentElement.scrollWidth`); sw > 1440 {
		t.Fatalf("the page is %.0f px wide in a 1440 px window", sw)
	}

	// Drag the tree's splitter 120 px to the right; reload; it stays.
	tree0 := width("#files")
	x := num(`(function (r) { return r.left + r.width / 2; })(document.querySelector("[data-split=tree]").getBoundingClientRect())`)
	y := num(`(function (r) { return r.top + r.height / 2; })(document.querySelector("[data-split=tree]").getBoundingClientRect())`)
	step(t, ctx, "drag the tree's splitter",
		chromedp.MouseEvent(chromedp.MouseMoved, x, y),
		chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, x+60, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, x+120, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, x+120, y, chromedp.ButtonLeft),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-saved=true]`)),
	)
	tree1 := width("#files")
	if tree1 < tree0+100 {
		t.Fatalf("the tree is %.0f px after dragging from %.0f px", tree1, tree0)
	}
	step(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-ready]`)))
	if w := width("#files"); w < tree1-1 || w > tree1+1 {
		t.Fatalf("after a reload the tree is %.0f px, not the %.0f px it was dragged to", w, tree1)
	}

	// Ctrl+B puts the tree away, for good; its button brings it back.
	step(t, ctx, "collapse the tree",
		chromedp.KeyEvent("b", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitNotVisible(css(`[data-testid=file-tree]`)),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-saved=true]`)),
		chromedp.Reload(),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-ready]`)),
		chromedp.WaitNotVisible(css(`[data-testid=file-tree]`)),
		chromedp.Click(css(`[data-testid=toggle-tree]`)),
		chromedp.WaitVisible(css(`[data-testid=file-tree]`)),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-saved=true]`)),
	)

	// Ctrl+` is the terminal's, which listens on the body.
	chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.body.addEventListener("studio:toggle-terminal", function () { window.terminalToggles = (window.terminalToggles || 0) + 1; })`))
	step(t, ctx, "ctrl+backquote", chromedp.KeyEvent("`", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	if n := num(`window.terminalToggles || 0`); n != 1 {
		t.Fatalf("studio:toggle-terminal fired %v times", n)
	}

	// Quick open: Ctrl+P, part of the name, Enter.
	step(t, ctx, "quick open",
		chromedp.KeyEvent("p", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(css(`[data-testid=quick-open-input]`)),
		chromedp.WaitVisible(css(`[data-testid=quick-open-item]`)),
		chromedp.SendKeys(css(`[data-testid=quick-open-input]`), "apptsx"),
		chromedp.WaitVisible(css(`[data-testid=quick-open-item][data-path="src/App.tsx"][aria-selected=true]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css(`.monaco-editor`)),
		chromedp.WaitVisible(css(`[data-tab="src/App.tsx"][aria-selected=true]`)),
		chromedp.WaitNotVisible(css(`[data-testid=quick-open]`)),
		chromedp.WaitVisible(css(`[data-testid=file-tree]`)),
	)

	// Device sizes change the frame's width; desktop fills the pane.
	previewFrame(t, ctx)
	for _, c := range []struct {
		button string
		want   float64
	}{{"device-phone", 390}, {"device-rotate", 844}, {"device-tablet", 1180}, {"device-rotate", 820}} {
		step(t, ctx, c.button, chromedp.Click(css(`[data-testid=`+c.button+`]`)))
		if w := width("#preview"); w != c.want {
			t.Fatalf("after %s the frame is %.0f px wide, want %.0f", c.button, w, c.want)
		}
	}
	step(t, ctx, "desktop", chromedp.Click(css(`[data-testid=device-desktop]`)))
	if w, pane := width("#preview"), num(`document.getElementById("preview-pane").clientWidth`); w < pane-2 {
		t.Fatalf("on desktop the frame is %.0f px wide in a %.0f px pane", w, pane)
	}

	// The console shows what the page logged and threw.
	step(t, ctx, "open the console page",
		chromedp.SetValue(css(`[data-testid=preview-path]`), "/console.html"),
		chromedp.Click(css(`#preview-reload`)),
		chromedp.WaitVisible(css(`[data-testid=console-count]`)),
		chromedp.Click(css(`[data-testid=console-tab]`)),
		chromedp.WaitVisible(css(`[data-testid=console-lines] li[data-level=error]`)),
	)
	waitText(t, ctx, `[data-testid=console-lines]`, `console error from the page {"code":7}`, "Uncaught Error: uncaught from the page")

	// The picture of the layout for the docs: a file open, the preview shown.
	step(t, ctx, "back to the app's page",
		chromedp.Click(css(`[data-pane=preview]`)),
		chromedp.SetValue(css(`[data-testid=preview-path]`), "/"),
		chromedp.Click(css(`#preview-reload`)),
	)
	// The arrow keys size a pane too: the tree goes back to its width.
	step(t, ctx, "narrow the tree with the keyboard", chromedp.Focus(css(`[data-split=tree]`)))
	for range 5 {
		step(t, ctx, "arrow left", chromedp.KeyEvent(kb.ArrowLeft))
	}
	if w := width("#files"); w > tree1-110 {
		t.Fatalf("after five presses of ← the tree is %.0f px (from %.0f px)", w, tree1)
	}
	step(t, ctx, "focus the editor", chromedp.Evaluate[chromedp.Void](`window.studioEditor.focus()`))
	previewFrame(t, ctx)
	step(t, ctx, "the frame painted", chromedp.Sleep(500*time.Millisecond)) // for the picture only
	screenshot(t, ctx, "workspace-layout")

	// A phone: the panes stack; nothing scrolls sideways.
	step(t, ctx, "a phone's window",
		chromedp.EmulateViewport(390, 844),
		chromedp.Reload(),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-ready]`)),
	)
	if sw := num(`document.documentElement.scrollWidth`); sw > 390 {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("body *")).filter(function (e) { return e.getBoundingClientRect().right > 391; }).slice(0, 5).map(function (e) { return e.tagName + "#" + e.id + "." + e.className; }).join("\n")`))
		t.Fatalf("the page is %.0f px wide in a 390 px window; too wide:\n%s", sw, wide)
	}
	screenshot(t, ctx, "workspace-phone")
}

// openNewWorkspace signs up in a 1440×900 window, creates a project and
// opens its workspace once it is active.
func openNewWorkspace(t *testing.T, ctx context.Context, s *studio, email, password, project string) {
	t.Helper()
	type css = chromedp.CSS
	signUp(t, ctx, s, email, password)
	step(t, ctx, "create a project",
		chromedp.EmulateViewport(1440, 900),
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
		chromedp.SendKeys(css(`#f-name`), project),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active] [data-testid=project-name]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=project-name]').click()`),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready][data-layout-ready]`)),
	)
}

// waitText waits until the element's text holds every one of want.
func waitText(t *testing.T, ctx context.Context, sel string, want ...string) {
	t.Helper()
	var got string
	testwait.Eventually(t, 20*time.Second, func() bool {
		got, _ = chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		for _, w := range want {
			if !strings.Contains(got, w) {
				return false
			}
		}
		return true
	}, sel+" shows "+strings.Join(want, " and "))
}

// TestWorkspaceTreeMenuDropAndPanes: the tree's context menu makes a
// folder, renames and deletes a file; a file dropped on a folder lands in
// it; the chat stays put away after a reload; the preview moves to its
// own window and back.
func TestWorkspaceTreeMenuDropAndPanes(t *testing.T) {
	s := startStudio(t)
	ctx := browser(t)
	type css = chromedp.CSS
	openNewWorkspace(t, ctx, s, "mo@example.com", "a long password", "Menu App")
	// The menu asks with prompt() and confirm(); the test answers them.
	menu := func(row, action, answer string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`(function () {
			window.prompt = function () { return ` + answer + `; };
			window.confirm = function () { return true; };
			var r = document.querySelector('` + row + `').getBoundingClientRect();
			document.querySelector('` + row + `').dispatchEvent(new MouseEvent("contextmenu", { bubbles: true, cancelable: true, clientX: r.left + 10, clientY: r.top + 5 }));
			document.querySelector('[data-testid=tree-menu] [data-action=` + action + `]').click();
		})()`)
	}
	step(t, ctx, "new folder from the menu",
		menu(`[data-file="index.html"]`, "new-folder", `"notes"`),
		chromedp.WaitVisible(css(`[data-dir="notes"]`)),
		chromedp.WaitNotVisible(css(`[data-testid=tree-menu]`)),
	)
	step(t, ctx, "new file in a folder from the menu",
		menu(`[data-dir="src"]`, "new-file", `"util.ts"`),
		chromedp.WaitVisible(css(`[data-file="src/util.ts"]`)),
	)
	step(t, ctx, "rename from the menu",
		menu(`[data-file="src/util.ts"]`, "rename", `"src/helpers.ts"`),
		chromedp.WaitVisible(css(`[data-file="src/helpers.ts"]`)),
		chromedp.WaitNotPresent(css(`[data-file="src/util.ts"]`)),
	)
	step(t, ctx, "delete from the menu",
		menu(`[data-file="src/helpers.ts"]`, "delete", `""`),
		chromedp.WaitNotPresent(css(`[data-file="src/helpers.ts"]`)),
	)

	// A file dropped on the src folder is uploaded into it.
	step(t, ctx, "drop a file on a folder",
		chromedp.Evaluate[chromedp.Void](`(function () {
			var dt = new DataTransfer();
			dt.items.add(new File(["dropped text"], "dropped.txt", { type: "text/plain" }));
			var target = document.querySelector('[data-dir="src"]');
			target.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: dt }));
			target.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
		})()`),
		chromedp.WaitVisible(css(`[data-file="src/dropped.txt"]`)),
	)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/projects/" + document.getElementById("workspace").dataset.project + "/files/src/dropped.txt").then(function (r) { return r.text(); })`, chromedp.EvalAwaitPromise)); got != "dropped text" {
		t.Fatalf("the dropped file holds %q", got)
	}

	// The chat is put away, and stays so after a reload.
	step(t, ctx, "put the chat away",
		chromedp.Click(css(`[data-testid=toggle-chat]`)),
		chromedp.WaitNotVisible(css(`[data-testid=chat-tab]`)),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-saved=true]`)),
		chromedp.Reload(),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-layout-ready]`)),
		chromedp.WaitNotVisible(css(`[data-testid=chat-tab]`)),
		chromedp.Click(css(`[data-testid=toggle-chat]`)),
		chromedp.WaitVisible(css(`[data-testid=chat-tab]`)),
		chromedp.WaitVisible(css(`#chat-message`)),
	)

	// The preview moves to its own window; Preview brings it back.
	step(t, ctx, "the preview in its own window",
		chromedp.Click(css(`[data-testid=preview-popout]`)),
		chromedp.WaitNotVisible(css(`#preview-pane`)),
		chromedp.WaitVisible(css(`[data-testid=show-preview]`)),
		chromedp.Click(css(`[data-testid=show-preview]`)),
		chromedp.WaitVisible(css(`#preview-pane`)),
		chromedp.WaitNotVisible(css(`[data-testid=show-preview]`)),
	)
}
