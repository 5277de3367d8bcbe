// Package portable moves a project in and out of studio as a zip file.
// Writing streams the project's own files; reading checks every entry of
// an untrusted zip — its path, its type, its size and how far it inflates
// — and holds the files in memory, so a refused zip writes nothing.
package portable

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"studio/internal/text"
	"studio/templates"
)

// ErrInvalid is what every refusal of a zip Is.
var ErrInvalid = errors.New("invalid zip")

// Error is a refused zip, in words a person understands.
type Error struct{ Message string }

func (e *Error) Error() string        { return e.Message }
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func refuse(format string, a ...any) error { return &Error{Message: fmt.Sprintf(format, a...)} }

// Limits bound what an imported zip may hold.
type Limits struct {
	MaxBytes int64 // all files together, uncompressed
	MaxFiles int
	// MaxRatio is the most a large entry may inflate (uncompressed ÷
	// compressed); beyond it the zip is taken for a bomb.
	MaxRatio int64
}

// DefaultLimits are STUDIO_IMPORT_MAX_SIZE's default and the file count
// and ratio studio applies.
var DefaultLimits = Limits{MaxBytes: 100 << 20, MaxFiles: 10_000, MaxRatio: 200}

// ratioFloor: entries smaller than this may inflate as far as they like
// (a page of repeated text compresses well and harms nobody).
const ratioFloor = 1 << 20

const maxPathLen = 1024

// leftOut says whether an export leaves p out: dependencies, studio's
// cache and top-level build output, which the project makes again.
func leftOut(p string, top bool) bool {
	name := path.Base(p)
	return name == "node_modules" || top && (name == ".studio" || templates.Generated(name))
}

// Write streams the project folder dir as a zip to w: every regular file
// but dependencies, studio's cache and build output; links are left out.
func Write(w io.Writer, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return WriteRoot(w, root)
}

// WriteRoot is Write of a folder already opened, which nothing in it can
// lead out of.
func WriteRoot(w io.Writer, root *os.Root) error {
	zw := zip.NewWriter(w)
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p == "." {
			return nil
		}
		if leftOut(p, !strings.Contains(p, "/")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.Contains(d.Name(), ".studio-tmp-") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		f, err := templates.OpenRegular(root, p)
		if err != nil {
			return nil // gone, or no longer a regular file
		}
		defer f.Close()
		hdr := &zip.FileHeader{Name: p, Method: zip.Deflate, Modified: fi.ModTime().UTC()}
		hdr.SetMode(fi.Mode().Perm())
		out, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, f)
		return err
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

// Files is what a zip holds, checked.
type Files struct {
	Files   map[string][]byte
	Exec    map[string]bool
	Skipped []string // entries left out: node_modules, studio's cache
}

// Read checks a zip whole and returns its files. A zip whose entries all
// sit in one folder (as GitHub's downloads do) loses that folder.
func Read(r io.ReaderAt, size int64, lim Limits) (*Files, error) {
	if err := checkDirectory(r, size, lim); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, refuse("the file is not a zip archive (%v)", err)
	}
	prefix := commonFolder(zr.File)
	out := &Files{Files: map[string][]byte{}, Exec: map[string]bool{}}
	var total int64
	for _, f := range zr.File {
		name := f.Name
		mode := f.Mode()
		if err := checkName(name); err != nil {
			return nil, err
		}
		switch {
		case mode&fs.ModeSymlink != 0:
			return nil, refuse("%q is a symbolic link; an imported project holds only files and folders", text.Clip(name, 80))
		case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
			return nil, refuse("%q is a device, pipe or socket; an imported project holds only files and folders", text.Clip(name, 80))
		case mode.IsDir() || strings.HasSuffix(name, "/"):
			continue
		}
		p := strings.TrimPrefix(name, prefix)
		if strings.HasPrefix(p, "node_modules/") || strings.Contains(p, "/node_modules/") || strings.HasPrefix(p, ".studio/") {
			out.Skipped = append(out.Skipped, p)
			continue
		}
		if len(out.Files) >= lim.MaxFiles {
			return nil, refuse("the zip has more than %d files, the most a project may be imported with", lim.MaxFiles)
		}
		if _, dup := out.Files[p]; dup {
			return nil, refuse("%q is in the zip twice", text.Clip(p, 80))
		}
		if f.UncompressedSize64 > uint64(lim.MaxBytes) || total+int64(f.UncompressedSize64) > lim.MaxBytes {
			return nil, refuse("the zip's files are more than the %s a project may be imported with (STUDIO_IMPORT_MAX_SIZE)", text.Bytes(lim.MaxBytes))
		}
		if f.UncompressedSize64 > ratioFloor && f.CompressedSize64 > 0 && f.UncompressedSize64/f.CompressedSize64 > uint64(lim.MaxRatio) {
			return nil, refuse("%q inflates %d times its compressed size: the zip looks like a zip bomb", text.Clip(p, 80), f.UncompressedSize64/f.CompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, refuse("%q cannot be read: %v", text.Clip(p, 80), err)
		}
		// The header's sizes are the sender's word: read no more than it
		// said, and no more than the limits allow, whatever the stream holds.
		b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
		rc.Close()
		if err != nil {
			return nil, refuse("%q cannot be read: %v", text.Clip(p, 80), err)
		}
		if uint64(len(b)) != f.UncompressedSize64 {
			return nil, refuse("%q is not the size its header says: the zip is damaged or crafted", text.Clip(p, 80))
		}
		total += int64(len(b))
		out.Files[p] = b
		if mode.Perm()&0o100 != 0 {
			out.Exec[p] = true
		}
	}
	if d := templates.FileAndFolder(out.Files); d != "" {
		return nil, refuse("%q is both a file and a folder in the zip", text.Clip(d, 80))
	}
	if len(out.Files) == 0 {
		return nil, refuse("the zip holds no files")
	}
	return out, nil
}

// checkDirectory reads the entry count from the zip's end record and
// refuses a zip with far more entries than the limit before the reader
// allocates one record per entry. Zip64 (more than 65,535 entries) is
// never needed within the limits.
func checkDirectory(r io.ReaderAt, size int64, lim Limits) error {
	const endLen, maxComment = 22, 65535
	tail := min(size, endLen+maxComment)
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
		return refuse("the file is not a zip archive (%v)", err)
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || len(buf)-i < endLen {
		return refuse("the file is not a zip archive (no end of central directory)")
	}
	entries := int(binary.LittleEndian.Uint16(buf[i+10:]))
	if entries == 0xFFFF || binary.LittleEndian.Uint32(buf[i+12:]) == 0xFFFFFFFF {
		return refuse("the zip is a zip64 archive, which holds more than a project may be imported with")
	}
	if entries > 2*lim.MaxFiles {
		return refuse("the zip has %d entries, more than a project with at most %d files may be imported with", entries, lim.MaxFiles)
	}
	return nil
}

// checkName refuses an entry name that is not a plain relative path
// inside the project: zip-slip (..), absolute, a drive letter, a
// backslash, invalid text. A folder's name ends in /.
func checkName(name string) error {
	if why := templates.PathProblem(strings.TrimSuffix(name, "/")); why != "" {
		return refuse("%s", why)
	}
	return nil
}

// commonFolder is "dir/" when every entry lies in that one folder.
func commonFolder(files []*zip.File) string {
	var prefix string
	for _, f := range files {
		first, _, nested := strings.Cut(f.Name, "/")
		if !nested && !f.Mode().IsDir() {
			return "" // a file at the top
		}
		switch {
		case prefix == "":
			prefix = first + "/"
		case prefix != first+"/":
			return ""
		}
	}
	if prefix == "./" || prefix == "../" {
		return ""
	}
	return prefix
}
