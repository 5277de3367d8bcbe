package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"studio/containers/image"
	"studio/db"
	"studio/templates"
)

// ErrNotATemplate: the item is an agent.
var ErrNotATemplate = errors.New("this item is not a template")

// MaxTemplateReadme bounds a template's README.
const MaxTemplateReadme = 32 << 10

// maxScreenshots bounds the screenshots a template shows.
const maxScreenshots = 4

// TemplateSpec is what a person says about a template when they save or
// edit it; its files come from a project or a bundle.
type TemplateSpec struct {
	Name        string
	Description string
	Readme      string // markdown, shown sanitised on the item page
	Icon        string
	Tags        []string
	Visibility  string   // private | instance ("" = private)
	Screenshots []string // paths of image files among the template's files
}

// cleanTemplate checks a spec against the files it describes.
func (s *Service) cleanTemplate(spec TemplateSpec, files map[string][]byte) (TemplateSpec, error) {
	l, err := s.cleanListing("template", listing{Name: spec.Name, Description: spec.Description, Icon: spec.Icon, Tags: spec.Tags, Visibility: spec.Visibility})
	if err != nil {
		return spec, err
	}
	spec.Name, spec.Description, spec.Icon, spec.Tags, spec.Visibility = l.Name, l.Description, l.Icon, l.Tags, l.Visibility
	spec.Readme = strings.TrimSpace(spec.Readme)
	switch {
	case !plainText(spec.Readme):
		return spec, &FieldError{Field: "readme", Message: "is not valid text"}
	case len(spec.Readme) > MaxTemplateReadme:
		return spec, &FieldError{Field: "readme", Message: fmt.Sprintf("is %d bytes, more than the %d KiB a README may have", len(spec.Readme), MaxTemplateReadme>>10)}
	}
	var shots []string
	for _, p := range spec.Screenshots {
		p = strings.TrimPrefix(strings.TrimSpace(p), "/")
		if p == "" || slices.Contains(shots, p) {
			continue
		}
		if _, ok := files[p]; !ok || !templates.IsImage(p) {
			return spec, &FieldError{Field: "screenshots", Message: fmt.Sprintf("%q is not a PNG, JPEG or WebP file of the project", clip(p, 80))}
		}
		shots = append(shots, p)
	}
	if len(shots) > maxScreenshots {
		return spec, &FieldError{Field: "screenshots", Message: fmt.Sprintf("choose at most %d screenshots", maxScreenshots)}
	}
	spec.Screenshots = shots
	return spec, nil
}

// TemplateFiles are the files of a template and what runs them.
type TemplateFiles struct {
	Base  string // the built-in template whose runtime it uses
	Files map[string][]byte
	Exec  map[string]bool
}

// CreateTemplate publishes files as a new template of the user, version 1.
func (s *Service) CreateTemplate(ctx context.Context, user uuid.UUID, spec TemplateSpec, tf TemplateFiles) (Item, error) {
	return s.createTemplate(ctx, user, spec, tf, pgtype.Text{})
}

func (s *Service) createTemplate(ctx context.Context, user uuid.UUID, spec TemplateSpec, tf TemplateFiles, forkedFrom pgtype.Text) (Item, error) {
	spec, err := s.cleanTemplate(spec, tf.Files)
	if err != nil {
		return Item{}, err
	}
	id := newItemID(spec.Name)
	params, err := templateVersion(id, 1, spec, tf)
	if err != nil {
		return Item{}, err
	}
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		if err := q.CreateItem(ctx, db.CreateItemParams{ID: id, Kind: "template", OwnerID: &user, Visibility: spec.Visibility,
			Name: spec.Name, Description: spec.Description, Tags: nonNil(spec.Tags), Readme: spec.Readme, Icon: spec.Icon, ForkedFrom: forkedFrom}); err != nil {
			return err
		}
		return q.CreateTemplateVersion(ctx, params)
	})
	if err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, id)
}

// UpdateTemplate publishes new files and words as the next version of the
// user's template; projects and installs keep the version they have.
func (s *Service) UpdateTemplate(ctx context.Context, user uuid.UUID, id string, spec TemplateSpec, tf TemplateFiles) (Item, error) {
	if _, err := s.ownTemplate(ctx, user, id); err != nil {
		return Item{}, err
	}
	spec, err := s.cleanTemplate(spec, tf.Files)
	if err != nil {
		return Item{}, err
	}
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		version, err := q.UpdateItem(ctx, db.UpdateItemParams{ID: id, OwnerID: &user, Visibility: spec.Visibility,
			Name: spec.Name, Description: spec.Description, Tags: nonNil(spec.Tags), Readme: spec.Readme, Icon: spec.Icon})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrItemNotFound
		} else if err != nil {
			return err
		}
		params, err := templateVersion(id, version, spec, tf)
		if err != nil {
			return err
		}
		return q.CreateTemplateVersion(ctx, params)
	})
	if err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, id)
}

// templateVersion packs a version's bundle, with its source, and checks it
// reads back whole.
func templateVersion(id string, version int32, spec TemplateSpec, tf TemplateFiles) (db.CreateTemplateVersionParams, error) {
	if _, ok := image.Lookup(tf.Base); !ok {
		return db.CreateTemplateVersionParams{}, &FieldError{Field: "base", Message: fmt.Sprintf("%q is not one of studio's runtimes (react-vite, vanilla-vite, static)", clip(tf.Base, 40))}
	}
	info := templates.Info{Name: spec.Name, Description: spec.Description, Readme: spec.Readme, Icon: spec.Icon,
		Tags: nonNil(spec.Tags), Base: tf.Base, Screenshots: nonNil(spec.Screenshots)}
	b, err := templates.Pack(info, tf.Files, tf.Exec, &templates.Source{ItemID: id, Version: version, ExportedAt: time.Now().UTC()})
	if err != nil {
		return db.CreateTemplateVersionParams{}, err
	}
	read, err := templates.Read(b, templates.StoredLimits)
	if err != nil {
		return db.CreateTemplateVersionParams{}, err
	}
	sum := sha256.Sum256(b)
	return db.CreateTemplateVersionParams{TemplateID: id, Version: version, Name: spec.Name, Description: spec.Description,
		Base: tf.Base, Screenshots: nonNil(spec.Screenshots), FileCount: int32(len(read.Manifest.Files)), TotalBytes: read.TotalBytes(),
		Bundle: b, Sha256: hex.EncodeToString(sum[:])}, nil
}

// TemplateLimits are the limits on a template's files (STUDIO_TEMPLATE_MAX_SIZE).
func (s *Service) TemplateLimits() templates.Limits {
	if s.opts.TemplateMaxBytes > 0 {
		return templates.LimitsFor(s.opts.TemplateMaxBytes)
	}
	return templates.DefaultLimits
}

// ownTemplate is the user's own template item, or why it is not theirs.
func (s *Service) ownTemplate(ctx context.Context, user uuid.UUID, id string) (Item, error) {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return Item{}, err
	}
	if it.Kind != "template" {
		return Item{}, ErrNotATemplate
	}
	if !it.Mine(user) {
		return Item{}, ErrNotOwner
	}
	return it, nil
}

// TemplateSource is a template version a project can be made from.
type TemplateSource struct {
	ItemID  string
	Version int32
	Base    string
	BuiltIn bool
}

// UsableTemplate is a template in a user's new-project picker.
type UsableTemplate = db.ListUsableTemplatesRow

// UsableTemplates lists the templates a user can start a project from: the
// built-ins first, in studio's order, then their own, then the installed.
func (s *Service) UsableTemplates(ctx context.Context, user uuid.UUID) ([]UsableTemplate, error) {
	return s.q.ListUsableTemplates(ctx, db.ListUsableTemplatesParams{UserID: user, Shared: s.shared()})
}

// TemplateFor resolves what a user asked to start a project from: a
// built-in template's id, or a template item they own, installed or may
// see (its latest version; an installed one at the version installed).
func (s *Service) TemplateFor(ctx context.Context, user uuid.UUID, id string) (TemplateSource, error) {
	if _, ok := image.Lookup(id); ok {
		return TemplateSource{ItemID: id, Version: 1, Base: id, BuiltIn: true}, nil
	}
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return TemplateSource{}, err
	}
	if it.Kind != "template" {
		return TemplateSource{}, ErrNotATemplate
	}
	if it.Hidden() && !it.Mine(user) {
		return TemplateSource{}, ErrItemHidden
	}
	version := it.LatestVersion
	if it.InstalledVersion.Valid {
		version = it.InstalledVersion.Int32
	}
	for _, v := range it.TemplateVersions {
		if v.Version == version {
			return TemplateSource{ItemID: id, Version: version, Base: v.Base}, nil
		}
	}
	return TemplateSource{}, ErrItemNotFound
}

// TemplateBundle is a version of a template the user may see, as its
// bundle file; version 0 is the latest. A built-in template's bundle is
// made from the files studio ships.
func (s *Service) TemplateBundle(ctx context.Context, user uuid.UUID, id string, version int32) ([]byte, Item, error) {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return nil, Item{}, err
	}
	if it.Kind != "template" {
		return nil, Item{}, ErrNotATemplate
	}
	if version == 0 {
		version = it.LatestVersion
	}
	if it.BuiltIn() {
		t, _ := image.Lookup(id)
		files, err := image.Files(id)
		if err != nil {
			return nil, Item{}, err
		}
		info := templates.Info{Name: t.Name, Description: t.Description, Readme: it.Readme, Tags: nonNil(it.Tags), Base: id, Screenshots: []string{}}
		b, err := templates.Pack(info, files, nil, &templates.Source{ItemID: id, Version: 1, ExportedAt: time.Now().UTC()})
		return b, it, err
	}
	row, err := s.q.GetTemplateBundle(ctx, db.GetTemplateBundleParams{TemplateID: id, Version: version})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, Item{}, ErrItemNotFound
	}
	return row.Bundle, it, err
}

// ReadTemplate is a version of a template as checked files.
func (s *Service) ReadTemplate(ctx context.Context, user uuid.UUID, id string, version int32) (*templates.Bundle, error) {
	b, _, err := s.TemplateBundle(ctx, user, id, version)
	if err != nil {
		return nil, err
	}
	return templates.Read(b, templates.StoredLimits)
}

// ForkTemplate copies the latest version of any template the user may see,
// built-ins included, into a new private template of theirs.
func (s *Service) ForkTemplate(ctx context.Context, user uuid.UUID, id string) (Item, error) {
	src, err := s.Item(ctx, user, id)
	if err != nil {
		return Item{}, err
	}
	if src.Kind != "template" {
		return Item{}, ErrNotATemplate
	}
	if src.Hidden() && !src.Mine(user) {
		return Item{}, ErrItemHidden
	}
	b, err := s.ReadTemplate(ctx, user, id, 0)
	if err != nil {
		return Item{}, err
	}
	info := b.Manifest.Template
	spec := TemplateSpec{Name: forkName(src.Name), Description: src.Description, Readme: src.Readme, Icon: src.Icon,
		Tags: src.Tags, Visibility: "private", Screenshots: info.Screenshots}
	return s.createTemplate(ctx, user, spec, filesOf(b), pgtype.Text{String: id, Valid: true})
}

// ImportTemplate makes a private template of the user from a bundle file,
// after checking all of it; nothing is stored on a refusal.
func (s *Service) ImportTemplate(ctx context.Context, user uuid.UUID, data []byte) (Item, error) {
	if s.mode() == MarketplaceOff {
		return Item{}, ErrPublishingOff
	}
	b, err := templates.Read(data, s.TemplateLimits())
	if err != nil {
		return Item{}, err
	}
	info := b.Manifest.Template
	spec := TemplateSpec{Name: info.Name, Description: info.Description, Readme: info.Readme, Icon: info.Icon,
		Tags: info.Tags, Visibility: "private", Screenshots: info.Screenshots}
	return s.CreateTemplate(ctx, user, spec, filesOf(b))
}

func filesOf(b *templates.Bundle) TemplateFiles {
	tf := TemplateFiles{Base: b.Manifest.Template.Base, Files: b.Files, Exec: map[string]bool{}}
	for _, f := range b.Manifest.Files {
		if f.Mode&0o111 != 0 {
			tf.Exec[f.Path] = true
		}
	}
	return tf
}

// DeleteItem removes the user's item of any kind with its versions,
// installs and ratings; projects and runs keep its id as a record.
func (s *Service) DeleteItem(ctx context.Context, user uuid.UUID, id string) error {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return err
	}
	if !it.Mine(user) {
		return ErrNotOwner
	}
	n, err := s.q.DeleteItem(ctx, db.DeleteItemParams{ID: id, OwnerID: &user})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrItemNotFound
	}
	return nil
}
