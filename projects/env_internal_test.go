package projects

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckEnvName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]error{
		"API_KEY":                nil,
		"_PRIVATE":               nil,
		"VITE_TITLE":             nil,
		"lower":                  ErrEnvName,
		"9LIVES":                 ErrEnvName,
		"A-B":                    ErrEnvName,
		"":                       ErrEnvName,
		strings.Repeat("A", 129): ErrEnvName,
		"HOME":                   ErrEnvReserved{"HOME"},
		"PORT":                   ErrEnvReserved{"PORT"},
		"STUDIO_SECRET_KEY":      ErrEnvReserved{"STUDIO_SECRET_KEY"},
		"NPM_CONFIG_REGISTRY":    ErrEnvReserved{"NPM_CONFIG_REGISTRY"},
	} {
		if err := CheckEnvName(name); !errors.Is(err, want) && err != want {
			t.Errorf("CheckEnvName(%.20q) = %v, want %v", name, err, want)
		}
	}
}

// Build output reaches the browser line by line with every value hidden,
// even one cut in two by the engine's chunks.
func TestLineWriterMasksValuesAcrossChunks(t *testing.T) {
	t.Parallel()
	var lines []string
	w := &lineWriter{mask: newMasker([]string{"TOKEN=abcd1234", "SHORT=ab", "LONGER=xxabcd1234yy"}), line: func(l string) { lines = append(lines, l) }}
	for _, chunk := range []string{"key abcd", "1234 and xxabcd1234yy\r\nab stays", "\nlast"} {
		w.Write([]byte(chunk))
	}
	w.flush()
	want := []string{"key •••• and ••••", "ab stays", "last"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("lines = %q, want %q", lines, want)
	}
}
