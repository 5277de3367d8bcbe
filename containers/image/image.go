// Package image owns the project runtime image and the project templates:
// the files under this directory are embedded, their hash names the image
// (studio-runtime:<tag>), and CopyTemplate lays a template out as a new
// project directory whose dependencies come from the image.
package image

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"sync"
)

// Repository is the image name; the tag is Tag().
const Repository = "studio-runtime"

// The image's inputs. Tag hashes exactly these, so any change to them names a
// new image; README.md and the Go code are not inputs.
//
//go:embed Dockerfile bin all:templates
var sources embed.FS

var tag = sync.OnceValue(func() string {
	sum, err := hashFS(sources)
	if err != nil {
		panic(fmt.Sprintf("hash embedded image sources: %v", err))
	}
	return sum
})

// Tag is the image tag: the first 12 hex digits of a SHA-256 over every
// embedded file's path and content.
func Tag() string { return tag() }

// Reference is the full image name, studio-runtime:<tag>.
func Reference() string { return Repository + ":" + Tag() }

// hashFS hashes the path and content of every regular file in fsys, in
// lexical order, so the result does not depend on the file system or on
// modification times.
func hashFS(fsys fs.FS) (string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)

	h := sha256.New()
	for _, p := range files {
		f, err := fsys.Open(p)
		if err != nil {
			return "", err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path.Clean(p), info.Size())
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
