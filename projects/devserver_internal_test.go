package projects

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestDetectDevServer(t *testing.T) {
	t.Parallel()
	long := []string{"--host", "0.0.0.0", "--port", "5173"}
	short := []string{"-H", "0.0.0.0", "-p", "5173"}
	for _, tc := range []struct {
		name, packageJSON string
		want              DevServer
	}{
		{"no package.json", "", DevServer{Base: "static"}},
		{"not JSON", "{", DevServer{Base: "static"}},
		{"no scripts", `{"name":"x"}`, DevServer{Base: "static"}},
		{"React on Vite", `{"dependencies":{"react":"^19"},"devDependencies":{"vite":"^7"},"scripts":{"dev":"vite"}}`, DevServer{Base: "react-vite"}},
		{"Vite", `{"dependencies":{"vite":"^7"},"scripts":{"dev":"next dev"}}`, DevServer{Base: "vanilla-vite"}},
		{"Next.js", `{"dependencies":{"next":"15"},"scripts":{"dev":"next dev --turbo","start":"next start"}}`, DevServer{Base: "static", Script: "dev", Args: short}},
		{"Gatsby", `{"scripts":{"develop":"x","start":"gatsby develop"}}`, DevServer{Base: "static", Script: "start", Args: short}},
		{"Astro", `{"dependencies":{"astro":"5"},"scripts":{"dev":"astro dev"}}`, DevServer{Base: "static", Script: "dev", Args: long}},
		{"a binary by its path, after variables", `{"scripts":{"dev":"NODE_ENV=development ./node_modules/.bin/nuxt dev"}}`, DevServer{Base: "static", Script: "dev", Args: long}},
		{"an unknown command", `{"scripts":{"dev":"node server.js"}}`, DevServer{Base: "static", Script: "dev"}},
		{"start when dev is empty", `{"scripts":{"dev":" ","start":"react-scripts start"}}`, DevServer{Base: "static", Script: "start"}},
		{"a script that is not text", `{"scripts":{"dev":["node"]}}`, DevServer{Base: "static"}},
		{"the static template's own script", `{"scripts":{"dev":"node /opt/studio/bin/static-server.mjs","start":"node x.js"}}`, DevServer{Base: "static"}},
		{"only a build script", `{"scripts":{"build":"tsc"}}`, DevServer{Base: "static"}},
	} {
		var pkg []byte
		if tc.packageJSON != "" {
			pkg = []byte(tc.packageJSON)
		}
		if got := DetectDevServer(pkg); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// What the project's files bring in studio's folder is replaced: a link
// planted there is removed, never followed.
func TestWriteDevServerReplacesTheProjectsStudioFolder(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, ".studio")); err != nil {
		t.Fatal(err)
	}
	if err := writeDevServer(dir, DevServer{Base: "static", Script: "dev", Args: []string{"-p", "5173"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, devServerFile))
	if want := `{"script":"dev","args":["-p","5173"]}` + "\n"; err != nil || string(b) != want {
		t.Fatalf("%s: %q %v", devServerFile, b, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote through the link: %v", entries)
	}

	if err := writeDevServer(dir, DevServer{Base: "react-vite"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".studio")); !os.IsNotExist(err) {
		t.Fatalf("a project on a built-in runtime keeps a record: %v", err)
	}
}
