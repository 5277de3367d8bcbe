// Package text writes values into the sentences studio shows people.
package text

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bytes writes a size the way people read it: 2 GiB, 2.1 GiB, 512 KiB.
func Bytes(n int64) string {
	units := []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if n >= u.size {
			s := strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64)
			return strings.TrimSuffix(s, ".0") + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

// Clip shortens untrusted text quoted in a message to n characters (with
// an ellipsis), making it valid UTF-8 first.
func Clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
