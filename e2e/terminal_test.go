package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestTerminalInTheWorkspace: the owner opens the workspace's terminal
// (through the event Ctrl+` fires), types `echo hello` and `ls src` into
// the xterm and sees their output; after a reload the terminal comes back
// with the same shell and what it printed.
func TestTerminalInTheWorkspace(t *testing.T) {
	s := startStudio(t)
	ctx := browser(t)
	type css = chromedp.CSS
	signUp(t, ctx, s, "tess@example.com", "a long password")
	step(t, ctx, "create a project",
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
		chromedp.SendKeys(css(`#f-name`), "Shell App"),
		chromedp.Click(css(`[data-testid=template-react-vite]`)),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card]`)),
	)
	step(t, ctx, "open the workspace",
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active] [data-testid=project-name]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=project-name]').click()`),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
		chromedp.WaitVisible(css(`[data-testid=terminal-pane][data-ready]`)),
	)
	step(t, ctx, "open the terminal",
		chromedp.Evaluate[chromedp.Void](`document.body.dispatchEvent(new CustomEvent("studio:toggle-terminal"))`),
		chromedp.WaitVisible(css(`[data-testid=terminal][data-connected] .xterm-rows`)),
	)
	typeInTerminal(t, ctx, "echo hello")
	waitTerminalLine(t, ctx, "hello")
	typeInTerminal(t, ctx, "ls src")
	waitTerminalLine(t, ctx, "main.tsx")
	screenshot(t, ctx, "terminal")

	step(t, ctx, "reload", chromedp.Reload(),
		chromedp.WaitVisible(css(`[data-testid=terminal][data-connected] .xterm-rows`)))
	waitTerminalLine(t, ctx, "hello") // the scrollback came back
	typeInTerminal(t, ctx, "echo again-$((40+2))")
	waitTerminalLine(t, ctx, "again-42")
}

func typeInTerminal(t *testing.T, ctx context.Context, line string) {
	t.Helper()
	step(t, ctx, "type "+line,
		chromedp.Focus(chromedp.CSS(`[data-testid=terminal]:not([hidden]) .xterm-helper-textarea`)),
		typeKeys(line+kb.Enter),
	)
}

// typeKeys types as a keyboard does: a keydown that carries its text.
// chromedp.KeyEvent sends the text in a char event of its own, which a
// keydown handler cannot cancel, so xterm.js would read every key twice.
func typeKeys(keys string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range keys {
			events := kb.Encode(r)
			for _, e := range events {
				if e.Type == kb.KeyChar {
					continue
				}
				if e.Type == kb.KeyDown {
					for _, c := range events {
						if c.Type == kb.KeyChar {
							e.Text, e.UnmodifiedText = c.Text, c.UnmodifiedText
						}
					}
				}
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, *e); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// waitTerminalLine waits until a row of the visible terminal is want
// (output, not the command line that typed it).
func waitTerminalLine(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(wctx, chromedp.PollFunction[bool](`(want) => {
		var rows = document.querySelector('[data-testid=terminal]:not([hidden]) .xterm-rows');
		return !!rows && Array.from(rows.children).some((r) => r.textContent.trim().split(/\s+/).includes(want) && !r.textContent.includes('$ '));
	}`, chromedp.WithPollingArgs(want)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('[data-testid=terminal] .xterm-rows') || document.body).innerText`))
		t.Fatalf("the terminal shows no line %q: %v\n%s", want, err, strings.TrimSpace(text))
	}
}
