package catalogues

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"studio/netguard"
)

// Errors of an index that cannot be read at all; an entry with a bad field
// is only left out.
var (
	ErrIndexJSON    = errors.New("the index is not valid JSON")
	ErrIndexFormat  = errors.New(`the index's "format" is not "studio-catalogue"`)
	ErrIndexVersion = errors.New(`the index's "format_version" is not one this studio reads (1)`)
	ErrIndexSize    = errors.New("the index lists more than 1000 items")
)

// index is the file as served.
type index struct {
	Format        string      `json:"format"`
	FormatVersion int         `json:"format_version"`
	Name          string      `json:"name"`
	Items         []indexItem `json:"items"`
}

type indexItem struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	Version     int      `json:"version"`
	Bundle      string   `json:"bundle"`
	SHA256      string   `json:"sha256"`
	Size        int64    `json:"size"`
}

// parse reads an index served at base into cat.
func (cat *Catalogue) parse(base *url.URL, data []byte) error {
	var ix index
	if err := json.Unmarshal(data, &ix); err != nil {
		return ErrIndexJSON
	}
	switch {
	case ix.Format != Format:
		return ErrIndexFormat
	case ix.FormatVersion != FormatVersion:
		return ErrIndexVersion
	case len(ix.Items) > MaxItems:
		return ErrIndexSize
	}
	if name := text(ix.Name, 80); name != "" {
		cat.Name = name
	}
	seen := map[string]bool{}
	for _, raw := range ix.Items {
		it, ok := raw.check(base)
		if !ok || seen[it.ID] {
			cat.Skipped++
			continue
		}
		seen[it.ID] = true
		cat.Items = append(cat.Items, it)
	}
	return nil
}

// check returns the entry with its bundle address made absolute, or false
// when a field is missing or malformed.
func (r indexItem) check(base *url.URL) (Item, bool) {
	it := Item{ID: r.ID, Kind: r.Kind, Name: text(r.Name, 80), Description: text(r.Description, 2000), Version: r.Version,
		SHA256: strings.ToLower(r.SHA256), Size: r.Size, Tags: []string{}}
	for _, t := range r.Tags {
		if t = text(t, 24); t != "" && len(it.Tags) < 8 {
			it.Tags = append(it.Tags, t)
		}
	}
	if !validID(it.ID) || (it.Kind != "agent" && it.Kind != "template") || it.Name == "" || it.Size <= 0 || it.Version < 0 {
		return Item{}, false
	}
	if sum, err := hex.DecodeString(it.SHA256); err != nil || len(sum) != 32 {
		return Item{}, false
	}
	ref, err := url.Parse(r.Bundle)
	if r.Bundle == "" || err != nil {
		return Item{}, false
	}
	u := base.ResolveReference(ref)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return Item{}, false
	}
	u.Fragment = ""
	it.Bundle = u.String()
	return it, true
}

// validID accepts 1 to 100 letters, digits, dots, hyphens and underscores.
func validID(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for _, r := range id {
		if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_')) {
			return false
		}
	}
	return true
}

// text is s as one line of at most max characters, without control
// characters; the pages escape it like any other text.
func text(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// Note says in a few words why a catalogue or a download failed, for the
// page and the API; the full error is for the log.
func Note(err error) string {
	var blocked *netguard.BlockedError
	var tooLarge *TooLargeError
	var status *StatusError
	var dns *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &blocked):
		return blocked.Error()
	case errors.As(err, &tooLarge):
		return tooLarge.Error()
	case errors.As(err, &status):
		return status.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the server did not answer in time"
	case errors.As(err, &dns):
		return "the host name " + dns.Name + " could not be resolved"
	case errors.Is(err, ErrDigest):
		return err.Error() // with the sizes when they differ
	}
	for _, known := range []error{ErrIndexJSON, ErrIndexFormat, ErrIndexVersion, ErrIndexSize, ErrNoItem, ErrNoCatalogue,
		errTooManyHops, errBadRedirect, errCredentialed} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return "the server could not be reached"
}
