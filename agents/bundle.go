package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// A bundle is an agent in a file (.studio-agent.json) that another studio
// can import.
const (
	BundleFormat  = "studio-agent"
	BundleVersion = 1
)

// Errors of an import; each message says what is wrong with the file.
var (
	ErrBundleFormat  = errors.New(`the file is not a studio agent bundle (its "format" is not "studio-agent")`)
	ErrBundleVersion = errors.New(`the bundle's "format_version" is not one this studio reads (1)`)
	ErrBundleDigest  = errors.New("the bundle's digest does not match its contents")
)

// BundleAgent is the agent a bundle carries. Its digest is the SHA-256 of
// json.Marshal of this struct: keys in the order below, no spaces, tools
// and tags always arrays, temperature null when unset, strings escaped as
// Go's encoding/json does (<, > and & as \u003c, \u003e, \u0026), and
// readme left out when empty.
type BundleAgent struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	SystemPrompt string   `json:"system_prompt"`
	Tools        []string `json:"tools"`
	Mode         string   `json:"mode"`
	ReadOnly     bool     `json:"read_only"`
	Model        string   `json:"model"`
	Temperature  *float64 `json:"temperature"`
	Icon         string   `json:"icon"`
	Tags         []string `json:"tags"`
	Readme       string   `json:"readme,omitempty"` // omitted when empty, so bundles made before READMEs keep their digest
}

// BundleSource says which item and version a bundle was exported from.
type BundleSource struct {
	ItemID     string    `json:"item_id"`
	Version    int32     `json:"version"`
	ExportedAt time.Time `json:"exported_at"`
}

// Bundle is a .studio-agent.json file.
type Bundle struct {
	Format        string       `json:"format"`
	FormatVersion int          `json:"format_version"`
	Agent         BundleAgent  `json:"agent"`
	Source        BundleSource `json:"source"`
	SHA256        string       `json:"sha256"`
}

// Digest is the hex SHA-256 of the agent's canonical JSON.
func (a BundleAgent) Digest() string {
	a.Tools, a.Tags = nonNil(a.Tools), nonNil(a.Tags)
	b, err := json.Marshal(a)
	if err != nil { // strings, bools and a float cannot fail but NaN, which clean refuses anyway
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ExportBundle is the latest version of an agent the user may see, as a
// bundle; like a fork, not of an item hidden by an administrator unless
// the user owns it.
func (s *Service) ExportBundle(ctx context.Context, user uuid.UUID, id string) (Bundle, error) {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return Bundle{}, err
	}
	if it.Kind != "agent" {
		return Bundle{}, ErrNotAnAgent
	}
	if it.Hidden() && !it.Mine(user) { // an export would be a fork by another way
		return Bundle{}, ErrItemHidden
	}
	v := it.Latest()
	spec := SpecOf(v, it.Tags, "")
	a := BundleAgent{Name: spec.Name, Description: spec.Description, SystemPrompt: spec.SystemPrompt, Tools: nonNil(spec.Tools),
		Mode: spec.Mode, ReadOnly: spec.ReadOnly, Model: spec.Model, Temperature: spec.Temperature, Icon: spec.Icon, Tags: nonNil(spec.Tags), Readme: spec.Readme}
	return Bundle{Format: BundleFormat, FormatVersion: BundleVersion, Agent: a,
		Source: BundleSource{ItemID: id, Version: v.Version, ExportedAt: time.Now().UTC().Truncate(time.Second)}, SHA256: a.Digest()}, nil
}

// ImportBundle checks a bundle and creates its agent as a new private
// agent of the user's, under the same rules as the editor. When the
// bundle's source is an agent the user can see here, the new agent records
// it as forked_from.
func (s *Service) ImportBundle(ctx context.Context, user uuid.UUID, b Bundle) (Item, error) {
	switch {
	case b.Format != BundleFormat:
		return Item{}, ErrBundleFormat
	case b.FormatVersion != BundleVersion:
		return Item{}, ErrBundleVersion
	case b.SHA256 != b.Agent.Digest():
		return Item{}, ErrBundleDigest
	}
	a := b.Agent
	spec, err := s.clean(AgentSpec{Name: a.Name, Description: a.Description, SystemPrompt: a.SystemPrompt, Tools: a.Tools, Mode: a.Mode,
		ReadOnly: a.ReadOnly, Model: a.Model, Temperature: a.Temperature, Icon: a.Icon, Tags: a.Tags, Visibility: "private", Readme: a.Readme})
	if err != nil {
		return Item{}, err
	}
	var from pgtype.Text
	if src, err := s.Item(ctx, user, b.Source.ItemID); err == nil && src.Kind == "agent" {
		from = pgtype.Text{String: src.ID, Valid: true}
	}
	id := newItemID(spec.Name)
	if err := s.createAgent(ctx, user, id, spec, from); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, id)
}
