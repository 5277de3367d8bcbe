package agents

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlaceholderFindsCommentsThatStandForCode(t *testing.T) {
	for _, line := range []string{
		"// rest of the code remains the same",
		"// ... existing code ...",
		"{/* other components unchanged */}",
		"# ... rest unchanged",
		"<!-- rest of the file stays the same -->",
		"/* ... */",
		"// …",
		"// ...",
		"// [...]",
		"<!-- ... rest of the code remains the same ... -->",
		"// Rest of the component",
		"/* ... existing code ... */",
		"{/* ...rest of JSX unchanged */}",
		"// existing code",
		"// keep existing implementation",
		"// previous code here",
		"// ... other imports",
		"// other code here",
		"// Other methods remain unchanged",
		"// Everything else stays the same",
		"// the rest is the same",
		"// remaining functions stay as is",
		"// imports remain the same",
		"// unchanged",
		"// (unchanged)",
		"// ... unchanged ...",
		"// same as before",
		"-- rest of the query unchanged",
		" * ... rest of the methods",
	} {
		content := "import x from 'y'\n\n  " + line + "  \nexport default x\n"
		if got := placeholder(content, ""); got != strings.TrimSpace(line) {
			t.Errorf("%q: found %q", line, got)
		}
	}
}

func TestPlaceholderLeavesCodeAlone(t *testing.T) {
	for _, content := range []string{
		"export default function App() {\n  return <h1>Hi</h1>\n}\n",
		"const msg = \"rest of the code\"\n",
		"const note = '// rest of the code remains the same'\n",
		"print('... existing code ...')\n",
		"const { a, ...rest } = props\nreturn <B {...rest} />\n",
		// Only whole-line comments are placeholders: a model leaves code
		// out on a line of its own, not after a statement.
		"x := 1 // rest of the code remains the same\n",
		// The page is not code: a comment pointing at what follows is fine.
		"// the rest of the page is below\n<main></main>\n",
		// Section headers and comments about the code's behaviour.
		"// Other functions\nfunction a() {}\n",
		"# Other components\n",
		"// Other helpers below\n",
		"// If the value is the same, skip the update\nif (a === b) return\n",
		"// Props are unchanged, so skip rendering\n",
		"// return the input unchanged\nreturn s\n",
		"// The file is unchanged when nothing differs\n",
		"// TODO: handle errors\n// eslint-disable-next-line no-console\n",
		"/**\n * Adds two numbers.\n * @param a the first\n */\n",
		"#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n#include <stdio.h>\n",
		"<!-- Navigation -->\n<nav></nav>\n",
		"body { color: red; }\n#main { --other-code: 1; }\n",
	} {
		if got := placeholder(content, ""); got != "" {
			t.Errorf("%q: found %q", content, got)
		}
	}
}

func TestPlaceholderAlreadyInTheOldContent(t *testing.T) {
	old := "function a() {}\n// ... existing code ...\nfunction b() {}\n"
	if got := placeholder(old+"function c() {}\n", old); got != "" {
		t.Errorf("a placeholder the file had already was flagged: %q", got)
	}
	// Indented differently, it is still the same comment.
	if got := placeholder("    // ... existing code ...\n", old); got != "" {
		t.Errorf("re-indented: %q", got)
	}
	if got := placeholder(old+"// rest of the code remains the same\n", old); got != "// rest of the code remains the same" {
		t.Errorf("a new placeholder next to an old one: %q", got)
	}
}

// feedAll feeds text in pieces of the given sizes (cycled) and then ends it.
func feedAll(text string, sizes ...int) []block {
	var p blockParser
	var out []block
	for i := 0; text != ""; i++ {
		n := min(sizes[i%len(sizes)], len(text))
		out = append(out, p.feed(text[:n])...)
		text = text[n:]
	}
	return append(out, p.end()...)
}

func TestBlockParser(t *testing.T) {
	app := "export default function App() {\n  return <h1>Hi</h1>\n}\n"
	for _, c := range []struct {
		name, text string
		want       []block
	}{
		{"language and path", "Here:\n```tsx src/App.tsx\n" + app + "```\nDone.\n", []block{{"src/App.tsx", app}}},
		{"path only", "```src/App.tsx\n" + app + "```\n", []block{{"src/App.tsx", app}}},
		{"title attribute", "```tsx title=\"src/App.tsx\"\n" + app + "```\n", []block{{"src/App.tsx", app}}},
		{"path attribute", "```tsx path=src/App.tsx\n" + app + "```\n", []block{{"src/App.tsx", app}}},
		{"language colon path", "```tsx:src/App.tsx\n" + app + "```\n", []block{{"src/App.tsx", app}}},
		{"absolute container path", "```tsx /app/src/App.tsx\n" + app + "```\n", []block{{"src/App.tsx", app}}},
		{"a file without a folder", "```html index.html\n<h1>Hi</h1>\n```\n", []block{{"index.html", "<h1>Hi</h1>\n"}}},
		{"language only is an example", "```tsx\n" + app + "```\n", nil},
		{"no info is an example", "```\nnpm install\n```\n", nil},
		{"tildes", "~~~js src/a.js\nlet a = 1\n~~~\n", []block{{"src/a.js", "let a = 1\n"}}},
		{"backticks do not close tildes", "~~~md README.md\n```\nx\n```\n~~~\n", []block{{"README.md", "```\nx\n```\n"}}},
		{"a longer closing fence", "```js src/a.js\nlet a = 1\n`````\n", []block{{"src/a.js", "let a = 1\n"}}},
		{"a shorter fence inside a longer one", "````md README.md\n# Use\n```sh\nnpm start\n```\n````\n", []block{{"README.md", "# Use\n```sh\nnpm start\n```\n"}}},
		{"a fence with an info string does not close", "```md README.md\n```js\n```\n", []block{{"README.md", "```js\n"}}},
		{"indented fences", "  ```js src/a.js\n  let a = 1\n  ```\n", []block{{"src/a.js", "  let a = 1\n"}}},
		{"two blocks", "```js src/a.js\na\n```\nand\n```js src/b.js\nb\n```\n", []block{{"src/a.js", "a\n"}, {"src/b.js", "b\n"}}},
		{"an example between files", "```js src/a.js\na\n```\n```sh\nnpm test\n```\n```js src/b.js\nb\n```\n", []block{{"src/a.js", "a\n"}, {"src/b.js", "b\n"}}},
		{"an empty file", "```css src/empty.css\n```\n", []block{{"src/empty.css", ""}}},
		{"the answer ends with the closing fence", "```js src/a.js\na\n```", []block{{"src/a.js", "a\n"}}},
		{"a block that is never closed is not a file", "```js src/a.js\na\nb", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			whole := feedAll(c.text, len(c.text))
			if !reflect.DeepEqual(whole, c.want) {
				t.Fatalf("in one piece: %q, want %q", whole, c.want)
			}
			for _, sizes := range [][]int{{1}, {2}, {3, 1, 7}, {5}, {64}} {
				if got := feedAll(c.text, sizes...); !reflect.DeepEqual(got, c.want) {
					t.Fatalf("in pieces of %v: %q, want %q", sizes, got, c.want)
				}
			}
		})
	}
}

// Blocks complete as soon as their closing line has arrived, whatever the
// pieces, and a piece may complete several.
func TestBlockParserPieces(t *testing.T) {
	var p blockParser
	if got := p.feed("Sure:\n```js src/a"); got != nil {
		t.Fatalf("early: %v", got)
	}
	if got := p.feed(".js\nlet a = 1\n``"); got != nil {
		t.Fatalf("before the closing fence: %v", got)
	}
	if got := p.feed("`"); got != nil {
		t.Fatalf("before the closing fence's line break: %v", got)
	}
	got := p.feed("\n```js src/b.js\nb\n```\n```js src/c.js\nc\n```\nbye")
	want := []block{{"src/a.js", "let a = 1\n"}, {"src/b.js", "b\n"}, {"src/c.js", "c\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
	if got := p.end(); got != nil {
		t.Fatalf("end after prose: %v", got)
	}

	// Random pieces of a long answer give the same blocks as the whole.
	var text strings.Builder
	var all []block
	for i := range 50 {
		path := "src/f" + strings.Repeat("x", i) + ".ts"
		body := strings.Repeat("const a = `x`; // ``` inline\n", i%4) + "end\n"
		text.WriteString("Next:\n```ts " + path + "\n" + body + "```\n\n```sh\nnpm test\n```\n")
		all = append(all, block{path, body})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		var sizes []int
		for range 30 {
			sizes = append(sizes, 1+rng.IntN(40))
		}
		if got := feedAll(text.String(), sizes...); !reflect.DeepEqual(got, all) {
			t.Fatalf("pieces %v: %d blocks, want %d", sizes, len(got), len(all))
		}
	}
}

func TestBlockPath(t *testing.T) {
	for _, c := range []struct{ lang, rest, want string }{
		{"tsx", "src/App.tsx", "src/App.tsx"},
		{"src/App.tsx", "", "src/App.tsx"},
		{"tsx", `title="src/App.tsx"`, "src/App.tsx"},
		{"tsx", "filename='App.tsx'", "App.tsx"},
		{"js", "./src/a.js", "src/a.js"},
		{"typescript:src/App.tsx", "", "src/App.tsx"},
		{"tsx", "", ""},
		{"", "", ""},
		{"sh", "", ""},
	} {
		if got := blockPath(c.lang, c.rest); got != c.want {
			t.Errorf("blockPath(%q, %q) = %q, want %q", c.lang, c.rest, got, c.want)
		}
	}
}

// An earlier answer cut off at the byte cap is not sent back whole.
func TestEarlierMessagesAreBounded(t *testing.T) {
	long := strings.Repeat("é", historyMessageCap) // two bytes each
	got := earlierMessage(long)
	if len(got) > historyMessageCap+100 || !utf8.ValidString(got) || !strings.HasSuffix(got, "left out]") {
		t.Fatalf("a %d-byte message comes back as %d bytes (valid UTF-8: %v)", len(long), len(got), utf8.ValidString(got))
	}
	if short := "a short answer"; earlierMessage(short) != short {
		t.Fatal("a short message changed")
	}
}
