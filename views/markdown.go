package views

import (
	"bytes"
	"context"
	"io"

	"github.com/a-h/templ"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

var (
	markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))
	// sanitizer keeps what user-generated content may hold: no scripts,
	// no styles, no event handlers; links open safely.
	sanitizer = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.RequireNoReferrerOnLinks(true)
		p.AddTargetBlankToFullyQualifiedLinks(true)
		return p
	}()
)

// Markdown renders an agent's answer or an item's README: CommonMark with
// GitHub's tables and lists, sanitised, since neither text is trusted.
func Markdown(src string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		var buf bytes.Buffer
		if err := markdown.Convert([]byte(src), &buf); err != nil {
			_, err = io.WriteString(w, templ.EscapeString(src))
			return err
		}
		_, err := w.Write(sanitizer.SanitizeBytes(buf.Bytes()))
		return err
	})
}
