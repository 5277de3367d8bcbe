// Package templates reads and writes template bundles: a project's files
// as a .studio-template.tar.gz that another studio can import. A bundle is
// a gzip-compressed tar holding, first, a manifest (studio-template.json)
// that lists every file with its size, mode and SHA-256, then each file
// under files/. Reading a bundle checks all of it before anything is
// written anywhere.
package templates

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"studio/internal/text"
)

// The bundle format this package writes and reads.
const (
	Format        = "studio-template"
	FormatVersion = 1
	ManifestName  = "studio-template.json"
	filesDir      = "files/"
	// Extension is how a bundle's file name ends.
	Extension = ".studio-template.tar.gz"
)

// Limits bound what a template may hold.
type Limits struct {
	MaxBytes  int64 // all files together, uncompressed
	MaxFiles  int
	MaxBundle int64 // the compressed bundle
}

// DefaultLimits are the limits studio applies unless configured otherwise.
var DefaultLimits = LimitsFor(20 << 20)

// LimitsFor are the limits for templates of at most maxBytes of files: a
// bundle of incompressible files is a little larger than its files, so it
// may be an eighth larger, and a megabyte for its manifest and headers.
func LimitsFor(maxBytes int64) Limits {
	return Limits{MaxBytes: maxBytes, MaxFiles: 2000, MaxBundle: maxBytes + maxBytes/8 + 1<<20}
}

// StoredLimits read back a bundle studio packed and stored itself: a
// template larger than the limits of the day still opens.
var StoredLimits = Limits{MaxBytes: 1 << 30, MaxFiles: 1 << 20, MaxBundle: 1 << 30}

const (
	maxManifest = 1 << 20
	maxPathLen  = 1024
	// headerRoom is the most tar spends around one file: its header, a
	// PAX record for a long path, and the padding of both.
	headerRoom = 4096
)

// ErrInvalid is what every refusal of a bundle Is.
var ErrInvalid = errors.New("invalid template bundle")

// Error is a refused bundle, in words a person understands.
type Error struct{ Message string }

func (e *Error) Error() string        { return e.Message }
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func refuse(format string, a ...any) error { return &Error{Message: fmt.Sprintf(format, a...)} }

// Info is what a template says about itself.
type Info struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Readme      string   `json:"readme"`
	Icon        string   `json:"icon"`
	Tags        []string `json:"tags"`
	// Base is the built-in template whose runtime the template runs on:
	// react-vite, vanilla-vite or static.
	Base string `json:"base"`
	// Screenshots are paths of PNG, JPEG or WebP files among the files.
	Screenshots []string `json:"screenshots"`
}

// File is one file of a template.
type File struct {
	Path   string      `json:"path"`
	Size   int64       `json:"size"`
	Mode   fs.FileMode `json:"mode"` // 0644, or 0755 for an executable
	SHA256 string      `json:"sha256"`
}

// Source says which item and version a bundle was exported from.
type Source struct {
	ItemID     string    `json:"item_id"`
	Version    int32     `json:"version"`
	ExportedAt time.Time `json:"exported_at"`
}

// Manifest is a bundle's studio-template.json.
type Manifest struct {
	Format        string  `json:"format"`
	FormatVersion int     `json:"format_version"`
	Template      Info    `json:"template"`
	Files         []File  `json:"files"`
	Source        *Source `json:"source,omitempty"`
}

// Bundle is a template read from a bundle and checked: every file is in
// the manifest with the size and digest it claims.
type Bundle struct {
	Manifest Manifest
	Files    map[string][]byte
}

// TotalBytes is the size of all files together.
func (b *Bundle) TotalBytes() int64 {
	var n int64
	for _, f := range b.Manifest.Files {
		n += f.Size
	}
	return n
}

// Pack writes a bundle of files (path → content; executable paths in
// exec get mode 0755) described by info.
func Pack(info Info, files map[string][]byte, exec map[string]bool, src *Source) ([]byte, error) {
	m := Manifest{Format: Format, FormatVersion: FormatVersion, Template: info, Source: src}
	if m.Template.Tags == nil {
		m.Template.Tags = []string{}
	}
	if m.Template.Screenshots == nil {
		m.Template.Screenshots = []string{}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		if err := checkPath(p); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		sum := sha256.Sum256(files[p])
		mode := fs.FileMode(0o644)
		if exec[p] {
			mode = 0o755
		}
		m.Files = append(m.Files, File{Path: p, Size: int64(len(files[p])), Mode: mode, SHA256: hex.EncodeToString(sum[:])})
	}
	if m.Files == nil {
		m.Files = []File{}
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	write := func(name string, mode fs.FileMode, b []byte) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode), Size: int64(len(b)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := write(ManifestName, 0o644, manifest); err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		if err := write(filesDir+f.Path, f.Mode, files[f.Path]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Read checks a bundle whole — format, manifest, every path, entry type,
// size and digest, the limits — and returns its files. It writes nothing.
func Read(data []byte, lim Limits) (*Bundle, error) {
	if int64(len(data)) > lim.MaxBundle {
		return nil, refuse("the bundle is %s, more than the %s a template bundle may be", text.Bytes(int64(len(data))), text.Bytes(lim.MaxBundle))
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, refuse("the file is not a template bundle (.studio-template.tar.gz): it is not gzip-compressed")
	}
	// Nothing in a valid bundle is larger than its files, its manifest
	// and tar's headers: a stream that inflates past that is refused.
	tr := tar.NewReader(io.LimitReader(gz, lim.MaxBytes+maxManifest+int64(lim.MaxFiles+2)*headerRoom))
	hdr, err := tr.Next()
	if err != nil {
		return nil, refuse("the file is not a template bundle: %s", tarProblem(err))
	}
	if hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg {
		return nil, refuse("the bundle does not start with its manifest, %s", ManifestName)
	}
	if hdr.Size > maxManifest {
		return nil, refuse("the bundle's manifest is larger than %s", text.Bytes(maxManifest))
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		return nil, refuse("the bundle's manifest cannot be read: %s", tarProblem(err))
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, refuse("the bundle's manifest is not valid JSON: %v", err)
	}
	if err := checkManifest(&m, lim); err != nil {
		return nil, err
	}
	want := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		want[f.Path] = f
	}
	files := make(map[string][]byte, len(m.Files))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, refuse("the bundle cannot be read: %s", tarProblem(err))
		}
		name := hdr.Name
		if hdr.Typeflag == tar.TypeDir {
			if err := checkPath(strings.TrimSuffix(strings.TrimPrefix(name, filesDir), "/")); err != nil && name != filesDir {
				return nil, err
			}
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, refuse("%q is a link; a template holds only regular files", text.Clip(name, 80))
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return nil, refuse("%q is a device or pipe; a template holds only regular files", text.Clip(name, 80))
		default:
			return nil, refuse("%q is not a regular file (tar type %q)", text.Clip(name, 80), string(hdr.Typeflag))
		}
		if !strings.HasPrefix(name, filesDir) {
			return nil, refuse("%q is outside the bundle's files/ folder", text.Clip(name, 80))
		}
		p := strings.TrimPrefix(name, filesDir)
		if err := checkPath(p); err != nil {
			return nil, err
		}
		f, ok := want[p]
		if !ok {
			return nil, refuse("%q is in the bundle but not in its manifest", text.Clip(p, 80))
		}
		if _, dup := files[p]; dup {
			return nil, refuse("%q is in the bundle twice", text.Clip(p, 80))
		}
		if hdr.Size != f.Size {
			return nil, refuse("%q is %d bytes, but the manifest says %d", text.Clip(p, 80), hdr.Size, f.Size)
		}
		b, err := io.ReadAll(io.LimitReader(tr, f.Size+1))
		if err != nil {
			return nil, refuse("%q cannot be read: %s", text.Clip(p, 80), tarProblem(err))
		}
		if int64(len(b)) != f.Size {
			return nil, refuse("%q is %d bytes, but the manifest says %d", text.Clip(p, 80), len(b), f.Size)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, refuse("%q does not match its SHA-256 in the manifest: the bundle was changed or damaged", text.Clip(p, 80))
		}
		files[p] = b
	}
	for _, f := range m.Files {
		if _, ok := files[f.Path]; !ok {
			return nil, refuse("%q is in the manifest but not in the bundle", text.Clip(f.Path, 80))
		}
	}
	return &Bundle{Manifest: m, Files: files}, nil
}

func checkManifest(m *Manifest, lim Limits) error {
	if m.Format != Format {
		return refuse(`the file is not a studio template bundle (its manifest's "format" is not %q)`, Format)
	}
	if m.FormatVersion != FormatVersion {
		return refuse(`the bundle's "format_version" is not one this studio reads (%d)`, FormatVersion)
	}
	if len(m.Files) > lim.MaxFiles {
		return refuse("the bundle has %d files, more than the %d a template may hold", len(m.Files), lim.MaxFiles)
	}
	var total int64
	seen := make(map[string]bool, len(m.Files))
	for i := range m.Files {
		f := &m.Files[i]
		if err := checkPath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return refuse("%q is in the manifest twice", text.Clip(f.Path, 80))
		}
		seen[f.Path] = true
		if f.Size < 0 || f.Size > lim.MaxBytes {
			return refuse("%q has a size of %d bytes, which a template cannot hold", text.Clip(f.Path, 80), f.Size)
		}
		total += f.Size
		if len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" {
			return refuse("%q has no SHA-256 (64 lower-case hex digits) in the manifest", text.Clip(f.Path, 80))
		}
		if f.Mode&0o111 != 0 {
			f.Mode = 0o755
		} else {
			f.Mode = 0o644
		}
	}
	if total > lim.MaxBytes {
		return refuse("the bundle's files are %s, more than the %s a template may hold", text.Bytes(total), text.Bytes(lim.MaxBytes))
	}
	if d := FileAndFolder(seen); d != "" {
		return refuse("%q is both a file and a folder in the bundle", text.Clip(d, 80))
	}
	for _, s := range m.Template.Screenshots {
		if !seen[s] {
			return refuse("the screenshot %q is not one of the bundle's files", text.Clip(s, 80))
		}
		if !IsImage(s) {
			return refuse("the screenshot %q is not a PNG, JPEG or WebP file", text.Clip(s, 80))
		}
	}
	return nil
}

// checkPath refuses a path that is not a plain, relative, /-separated
// path inside the template, or that names what a template never carries.
func checkPath(p string) error {
	if why := PathProblem(p); why != "" {
		return refuse("%s", why)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if neverCarried[seg] {
			return refuse("%q is inside %s, which a template never carries", text.Clip(p, 80), seg)
		}
	}
	return nil
}

// PathProblem says why p, a path from an archive, is not a plain relative
// path inside a project — empty, not valid text, too long, absolute (a
// drive letter too), with a backslash, a .., . or empty segment — or ""
// when it is one.
func PathProblem(p string) string {
	switch {
	case p == "":
		return "an entry has an empty path"
	case !utf8.ValidString(p) || strings.ContainsRune(p, 0):
		return "an entry's path is not valid text"
	case len(p) > maxPathLen:
		return fmt.Sprintf("an entry's path is longer than %d bytes", maxPathLen)
	case strings.HasPrefix(p, "/") || driveLetter(p):
		return fmt.Sprintf("%q is an absolute path; a project's files are relative to it", text.Clip(p, 80))
	case strings.Contains(p, `\`):
		return fmt.Sprintf("%q has a backslash; paths in an archive use /", text.Clip(p, 80))
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "..":
			return fmt.Sprintf("%q leads out of the project (..)", text.Clip(p, 80))
		case "", ".":
			return fmt.Sprintf("%q is not a clean path", text.Clip(p, 80))
		}
	}
	return ""
}

// FileAndFolder is a path of files (an archive's, path → anything) that
// is also the folder of another of them, or "" when there is none.
func FileAndFolder[V any](files map[string]V) string {
	for p := range files {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := files[d]; ok {
				return d
			}
		}
	}
	return ""
}

// driveLetter says whether p starts like a Windows path: C: or C:/.
func driveLetter(p string) bool {
	return len(p) >= 2 && p[1] == ':' && ('a' <= p[0] && p[0] <= 'z' || 'A' <= p[0] && p[0] <= 'Z') && (len(p) == 2 || p[2] == '/')
}

// neverCarried are folders a template leaves out wherever they are.
var neverCarried = map[string]bool{"node_modules": true, ".git": true}

// IsImage says whether a path names a screenshot studio shows.
func IsImage(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".png", ".jpg", ".jpeg", ".webp":
		return true
	}
	return false
}

// Extract writes the bundle's files into dir, which must be empty or
// missing, through an os.Root so nothing lands outside it.
func (b *Bundle) Extract(dir string) error {
	exec := map[string]bool{}
	for _, f := range b.Manifest.Files {
		if f.Mode&0o111 != 0 {
			exec[f.Path] = true
		}
	}
	return WriteFiles(dir, b.Files, exec)
}

// WriteFiles writes files (checked paths → content; those in exec get
// mode 0755, the others 0644) into dir, which must be empty or missing,
// through an os.Root so nothing lands outside it.
func WriteFiles(dir string, files map[string][]byte, exec map[string]bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for p, b := range files {
		if d := path.Dir(p); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
		}
		mode := fs.FileMode(0o644)
		if exec[p] {
			mode = 0o755
		}
		w, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		_, err = w.Write(b)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func tarProblem(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "it ends too early (cut off, or larger than a template may be once uncompressed)"
	}
	return err.Error()
}
