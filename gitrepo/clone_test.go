package gitrepo

import (
	"context"
	"errors"
	"strings"
	"testing"

	"studio/netguard"
)

func TestCheckURLAndBranch(t *testing.T) {
	for raw, want := range map[string]string{
		"https://github.com/owner/repo.git": "",
		"http://127.0.0.1:8080/x.git":       "",
		"":                                  "give the repository's HTTPS address",
		"git@github.com:owner/repo.git":     "is not an HTTPS address",
		"file:///etc":                       "is not an HTTPS address",
		"https://token@github.com/owner/repo.git": "never stores credentials",
		"https://github.com/o/r.git?x=1":          "query or fragment",
	} {
		_, err := CheckURL(raw)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", raw, err, want)
		}
	}
	for _, bad := range []string{"../x", "-x", "a b", "a..b", "x.lock", "a@{1}", "/x", "x/"} {
		if CheckBranch(bad) == nil {
			t.Errorf("CheckBranch(%q) accepted it", bad)
		}
	}
	for _, good := range []string{"", "main", "feature/otters", "v1.2"} {
		if err := CheckBranch(good); err != nil {
			t.Errorf("CheckBranch(%q) = %v", good, err)
		}
	}
}

// A clone of a blocked address is refused by the guard before any
// connection is tried; nothing is written.
func TestCloneRefusesBlockedAddressesBeforeDialling(t *testing.T) {
	c := New(netguard.NewDialer(nil))
	dir := t.TempDir() + "/clone"
	for _, u := range []string{"http://10.1.2.3/x.git", "https://169.254.169.254/x.git", "http://127.0.0.1:1/x.git"} {
		err := c.Clone(context.Background(), u, "", dir, DefaultLimits, Credentials{}, nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: %v", u, err)
		}
	}
}
