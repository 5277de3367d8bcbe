package projects

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"studio/containers/image"
)

// DevServer is how an imported project's dev server runs: on a built-in
// runtime (Vite, the static server), or through one of its own npm
// scripts when it uses another dev server.
type DevServer struct {
	// Base is the built-in runtime: react-vite, vanilla-vite or static.
	// A project that runs a script of its own is on static, whose server
	// serves its files while its dependencies install.
	Base string `json:"-"`
	// Script is the npm script the container runs, dev or start; empty for
	// the base's own server.
	Script string `json:"script,omitempty"`
	// Args go to the script after `--`: the host and port flags its
	// command understands.
	Args []string `json:"args,omitempty"`
}

// devServerFile is where a project's DevServer is kept, in the folder
// that is studio's (hidden from the file tree, refused to writes, left
// out of exports and imports). The container's entry point reads it as
// the project user inside the project's container, the only place the
// script runs; studio itself never runs anything it reads from there.
const devServerFile = ".studio/dev-server.json"

// staticServerScript is what the static template's own dev script runs:
// a project with it is on the static runtime, without npm in between.
const staticServerScript = "/opt/studio/bin/static-server.mjs"

// Host and port flags by the command a script starts with. Every script
// also gets HOST=0.0.0.0 and PORT=5173 in its environment, which is all
// an unknown command gets.
var (
	longFlags  = []string{"--host", "0.0.0.0", "--port", "5173"}
	shortFlags = []string{"-H", "0.0.0.0", "-p", "5173"}
	flagsFor   = map[string][]string{
		"vite": longFlags, "astro": longFlags, "nuxt": longFlags, "nuxi": longFlags, "ng": longFlags,
		"vue-cli-service": longFlags, "webpack": longFlags, "webpack-dev-server": longFlags,
		"next": shortFlags, "gatsby": shortFlags,
	}
)

// DetectDevServer says how a project with this package.json (nil for
// none) runs: Vite directly when Vite is among its dependencies; else its
// `dev` script, or `start` when it has no `dev`, through npm with the
// host and port the preview expects; else the static server.
func DetectDevServer(packageJSON []byte) DevServer {
	deps, err := image.Dependencies(packageJSON)
	if packageJSON == nil || err != nil {
		return DevServer{Base: "static"}
	}
	_, vite := deps["vite"]
	_, devVite := deps["dev:vite"]
	if vite || devVite {
		if _, react := deps["react"]; react {
			return DevServer{Base: "react-vite"}
		}
		return DevServer{Base: "vanilla-vite"}
	}
	var pkg struct {
		Scripts map[string]any `json:"scripts"`
	}
	_ = json.Unmarshal(packageJSON, &pkg)
	for _, name := range []string{"dev", "start"} {
		command, _ := pkg.Scripts[name].(string)
		if strings.TrimSpace(command) == "" {
			continue
		}
		if strings.Contains(command, staticServerScript) {
			break
		}
		return DevServer{Base: "static", Script: name, Args: flagsFor[commandName(command)]}
	}
	return DevServer{Base: "static"}
}

var envAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// commandName is the program a script runs: its first word after any
// VAR=value assignments, without a folder (./node_modules/.bin/next is
// next).
func commandName(command string) string {
	for _, word := range strings.Fields(command) {
		if !envAssignment.MatchString(word) {
			return path.Base(word)
		}
	}
	return ""
}

// writeDevServer records how the project in dir runs, replacing whatever
// its files brought in studio's folder; a project on a built-in runtime
// gets no record.
func writeDevServer(dir string, d DevServer) error {
	if err := os.RemoveAll(filepath.Join(dir, ".studio")); err != nil {
		return err
	}
	if d.Script == "" {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Mkdir(".studio", 0o755); err != nil {
		return err
	}
	return root.WriteFile(devServerFile, append(b, '\n'), 0o644)
}
