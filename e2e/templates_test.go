package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSaveProjectAsTemplateAndCreateFromIt: a person changes a project,
// saves it as a template from the workspace, and makes a new project from
// the template's page; the new project's preview serves the changed page.
// The template's new-project choice shows on the dashboard too.
func TestSaveProjectAsTemplateAndCreateFromIt(t *testing.T) {
	s := startStudio(t)
	const email, password = "tess@example.com", "a template password"
	ctx := browser(t)
	type css = chromedp.CSS
	signUp(t, ctx, s, email, password)
	step(t, ctx, "create a project",
		chromedp.SendKeys(css(`#f-name`), "Otter base"),
		chromedp.Click(css(`label:has(> [data-testid=template-static])`)),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active] [data-testid=project-name]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=project-name]').click()`),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
	)
	project := strings.TrimPrefix(workspaceURLOf(t, ctx), s.base+"/projects/")
	writeThroughAPI(t, s, email, password, project, "index.html", "<!doctype html><title>Otters</title><h1>Otters from a template</h1>")
	writeThroughAPI(t, s, email, password, project, ".env", "SECRET=never-in-a-template")

	step(t, ctx, "save as template",
		press("ws-save-template"),
		chromedp.WaitVisible(css(`[data-testid=save-template-form]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#f-name').value = ''`),
		chromedp.SendKeys(css(`#f-name`), "Otter starter"),
		chromedp.SendKeys(css(`#f-description`), "A page about otters."),
		chromedp.Click(css(`[data-testid=save-template-submit]`)),
		chromedp.WaitVisible(css(`[data-testid=template-saved]`)),
	)
	screenshot(t, ctx, "template-saved")

	step(t, ctx, "create a project from it",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#use-name').value = ''`),
		chromedp.SendKeys(css(`#use-name`), "Otter copy"),
		chromedp.Click(css(`[data-testid=use-template]`)),
		chromedp.WaitVisible(css(`[data-testid=workspace]`)),
		// The header is swapped in again on each status the new project
		// goes through: wait for it rather than read it mid-swap.
		chromedp.WaitVisible(chromedp.Search(`//*[@id="ws-header"]//h1[normalize-space(.)="Otter copy"]`)),
	)
	waitFrameHeading(t, ctx, previewFrame(t, ctx), "Otters from a template")
	screenshot(t, ctx, "template-project")

	step(t, ctx, "the dashboard offers it",
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(css(`[data-testid=new-project] [data-testid=template-origin]`)),
	)
}
