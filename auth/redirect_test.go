package auth_test

import (
	"net/url"
	"testing"

	"studio/auth"
)

func TestLocalPathNeverLeavesTheOrigin(t *testing.T) {
	t.Parallel()
	kept := []string{"/", "/projects/1", "/settings?tab=keys", "/a/b#c", "/files/%2Fx", "/%5cevil"}
	for _, next := range kept {
		if got := auth.LocalPath(next); got != next {
			t.Errorf("LocalPath(%q) = %q, want it kept", next, got)
		}
	}
	hostile := []string{
		"", "evil.example", "//evil.example", "///evil.example", "////evil.example",
		"/\\evil.example", "\\\\evil.example", "\\/evil.example", "/\\/evil.example",
		"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\r\n/evil.example",
		"\t//evil.example", " //evil.example", "/\x00/evil.example", "/\x0b/evil.example",
		"/\x0c/evil.example", "/\x7f/evil.example", "/\u0085/evil.example", "/\x1f/evil.example",
		"http://evil.example", "https://evil.example/", "HTTP://evil.example", "javascript:alert(1)",
		"JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example/%2F..",
		"/\\\\evil.example", "/%09/evil.example",
		"http:/evil.example", "http:evil.example", "//user@evil.example", "/ /evil.example",
		"\x00//evil.example", "/./\\evil.example",
	}
	for _, raw := range hostile {
		got := auth.LocalPath(raw)
		// Read the result as a browser would: relative to the UI origin.
		base, _ := url.Parse("https://studio.example/login")
		ref, err := url.Parse(got)
		if err != nil {
			t.Errorf("LocalPath(%q) = %q, which is not a URL", raw, got)
			continue
		}
		if u := base.ResolveReference(ref); u.Host != "studio.example" || u.Scheme != "https" {
			t.Errorf("LocalPath(%q) = %q leaves the origin (%s)", raw, got, u)
		}
		// Decoded once, as a sloppy server might, it still stays.
		if dec, err := url.PathUnescape(got); err == nil && (len(dec) > 1 && (dec[1] == '/' || dec[1] == '\\')) {
			t.Errorf("LocalPath(%q) = %q decodes to a scheme-relative URL", raw, got)
		}
	}
	if len(hostile) < 30 {
		t.Fatalf("the corpus has %d values; keep at least 30", len(hostile))
	}
}
