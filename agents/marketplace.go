package agents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"studio/agents/providers"
	"studio/db"
)

// Marketplace modes (STUDIO_MARKETPLACE).
const (
	MarketplaceOff      = "off"      // no publishing; only built-ins and nothing of other users
	MarketplacePrivate  = "private"  // users build private agents; nothing is shared
	MarketplaceInstance = "instance" // users may publish to everyone on the instance
)

// Errors of the marketplace; each message says what to do.
var (
	ErrItemNotFound  = errors.New("there is no such item")
	ErrPublishingOff = errors.New("publishing is turned off on this instance (STUDIO_MARKETPLACE=off)")
	ErrInstanceOff   = errors.New("this instance allows only private items (STUDIO_MARKETPLACE=private)")
	ErrNotOwner      = errors.New("only its owner can change this item; fork it to make your own copy")
	ErrAlreadyYours  = errors.New("this item is already in your library: built-in items and your own need no install")
	ErrNotInstalled  = errors.New("this item is not installed")
	ErrRateOwn       = errors.New("you cannot rate your own item")
	ErrUnknownTool   = errors.New("unknown tool")
	ErrNotAnAgent    = errors.New("this item is not an agent")
)

// Limits on what an agent holds.
const (
	MaxAgentName        = 80
	MaxAgentDescription = 2000
	MaxAgentPrompt      = 32 << 10
	MaxAgentReadme      = 32 << 10
	MaxAgentTags        = 8
	maxTagLength        = 24
	maxIcon             = 8
	maxModel            = 200
)

// plainText says whether v can be stored as text: valid UTF-8 without
// NUL, which PostgreSQL refuses.
func plainText(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }

// FieldError is bad input in one field of an agent or a rating.
type FieldError struct {
	Field   string
	Message string
	Err     error // a sentinel callers may test for, if any
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }
func (e *FieldError) Unwrap() error { return e.Err }

// AgentSpec is what a user writes in the agent editor; every save
// publishes it as a new version.
type AgentSpec struct {
	Name         string
	Description  string
	SystemPrompt string
	Tools        []string
	Mode         string // tools | code_blocks ("" = tools)
	ReadOnly     bool
	Model        string // provider/model or ""
	Temperature  *float64
	Icon         string
	Tags         []string
	Visibility   string // private | instance ("" = private)
	Readme       string // markdown for the item page, optional
}

var tagPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// clean checks a spec and returns it tidied: trimmed, tags lower-cased,
// tools in the built-in order without repeats.
func (s *Service) clean(spec AgentSpec) (AgentSpec, error) {
	l, err := s.cleanListing("agent", listing{Name: spec.Name, Description: spec.Description, Icon: spec.Icon, Tags: spec.Tags, Visibility: spec.Visibility})
	if err != nil {
		return spec, err
	}
	spec.Name, spec.Description, spec.Icon, spec.Tags, spec.Visibility = l.Name, l.Description, l.Icon, l.Tags, l.Visibility
	bad := func(field, format string, a ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
	}
	spec.SystemPrompt = strings.TrimSpace(spec.SystemPrompt)
	spec.Model = strings.TrimSpace(spec.Model)
	spec.Readme = strings.TrimSpace(spec.Readme)
	for _, f := range []struct{ field, v string }{{"system_prompt", spec.SystemPrompt}, {"readme", spec.Readme}} {
		if !plainText(f.v) {
			return spec, bad(f.field, "is not valid text")
		}
	}
	switch {
	case spec.SystemPrompt == "":
		return spec, bad("system_prompt", "write the agent's system prompt")
	case len(spec.SystemPrompt) > MaxAgentPrompt:
		return spec, bad("system_prompt", "is %d bytes, more than the %d KiB an agent's prompt may have", len(spec.SystemPrompt), MaxAgentPrompt>>10)
	}
	if len(spec.Readme) > MaxAgentReadme {
		return spec, bad("readme", "is %d bytes, more than the %d KiB a README may have", len(spec.Readme), MaxAgentReadme>>10)
	}
	spec.Mode = cmpOr(spec.Mode, "tools")
	if spec.Mode != "tools" && spec.Mode != "code_blocks" {
		return spec, bad("mode", "%q is not tools or code_blocks", spec.Mode)
	}
	var tools []string
	for _, t := range spec.Tools {
		t = strings.TrimSpace(t)
		if !slices.Contains(BuiltinTools, t) {
			return spec, &FieldError{Field: "tools", Err: ErrUnknownTool,
				Message: fmt.Sprintf("%q is not one of studio's tools; an agent may use only %s", clip(t, 60), strings.Join(BuiltinTools, ", "))}
		}
		if !slices.Contains(tools, t) {
			tools = append(tools, t)
		}
	}
	slices.SortFunc(tools, func(a, b string) int { return slices.Index(BuiltinTools, a) - slices.Index(BuiltinTools, b) })
	spec.Tools = tools
	if spec.Mode == "code_blocks" && len(spec.Tools) > 0 {
		return spec, bad("tools", "an agent in code-block mode calls no tools; choose the tools mode or no tools")
	}
	if spec.ReadOnly {
		if spec.Mode == "code_blocks" {
			return spec, bad("read_only", "a read-only agent cannot be in code-block mode, whose answers save files")
		}
		var writers []string
		for _, t := range spec.Tools {
			if !readOnlyTools[t] {
				writers = append(writers, t)
			}
		}
		if len(writers) > 0 {
			return spec, bad("tools", "a read-only agent cannot have %s; remove them or turn read-only off", strings.Join(writers, ", "))
		}
	}
	if spec.Model != "" {
		if !plainText(spec.Model) || len(spec.Model) > maxModel {
			return spec, bad("model", "is not a model name such as openai/gpt-4o-mini")
		}
		if _, _, err := providers.ParseModel(spec.Model); err != nil {
			return spec, bad("model", "%v", err)
		}
	}
	if t := spec.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		return spec, bad("temperature", "must be from 0 to 2")
	}
	return spec, nil
}

// listing is what every item shows in the catalogue.
type listing struct {
	Name, Description, Icon, Visibility string
	Tags                                []string
}

// cleanListing checks what an item of any kind (noun: agent, template)
// shows in the catalogue and returns it tidied: trimmed, tags lower-cased
// without repeats, visibility private unless given.
func (s *Service) cleanListing(noun string, l listing) (listing, error) {
	if s.mode() == MarketplaceOff {
		return l, ErrPublishingOff
	}
	bad := func(field, format string, a ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
	}
	l.Name = strings.TrimSpace(l.Name)
	l.Description = strings.TrimSpace(l.Description)
	l.Icon = strings.TrimSpace(l.Icon)
	for _, f := range []struct{ field, v string }{{"name", l.Name}, {"description", l.Description}, {"icon", l.Icon}} {
		if !plainText(f.v) {
			return l, bad(f.field, "is not valid text")
		}
	}
	switch n := utf8.RuneCountInString(l.Name); {
	case n == 0:
		return l, bad("name", "give the %s a name", noun)
	case n > MaxAgentName:
		return l, bad("name", "is longer than %d characters", MaxAgentName)
	}
	if utf8.RuneCountInString(l.Description) > MaxAgentDescription {
		return l, bad("description", "is longer than %d characters", MaxAgentDescription)
	}
	if utf8.RuneCountInString(l.Icon) > maxIcon {
		return l, bad("icon", "is longer than %d characters (an emoji or two)", maxIcon)
	}
	if len(l.Tags) > MaxAgentTags {
		return l, bad("tags", "give at most %d tags", MaxAgentTags)
	}
	var tags []string
	for _, t := range l.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		if len(t) > maxTagLength || !tagPattern.MatchString(t) {
			return l, bad("tags", "%q is not a tag: use up to %d lower-case letters, digits and hyphens", clip(t, 40), maxTagLength)
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	l.Tags = tags
	l.Visibility = cmpOr(l.Visibility, "private")
	switch l.Visibility {
	case "private":
	case "instance":
		if s.mode() != MarketplaceInstance {
			return l, ErrInstanceOff
		}
	default:
		return l, bad("visibility", "%q is not private or instance", l.Visibility)
	}
	return l, nil
}

func (s *Service) mode() string { return cmpOr(s.opts.Marketplace, MarketplaceInstance) }

// MarketplaceMode is STUDIO_MARKETPLACE as the service applies it.
func (s *Service) MarketplaceMode() string { return s.mode() }

// shared says whether users see each other's published items.
func (s *Service) shared() bool { return s.mode() == MarketplaceInstance }

// ItemQuery is a search of the catalogue.
type ItemQuery struct {
	Query  string // web-search syntax: words, "phrases", -not, or
	Kind   string // agent | template | ""
	Tag    string
	Sort   string // relevance | installs | rating | newest ("" = relevance with a query, else newest)
	Limit  int
	Offset int
}

// maxOffset bounds paging through search results.
const maxOffset = 10_000

// Sorts are the orders the catalogue knows.
var Sorts = []string{"relevance", "installs", "rating", "newest"}

// SearchItems lists the items a user may see that match the query.
func (s *Service) SearchItems(ctx context.Context, user uuid.UUID, q ItemQuery) ([]db.SearchItemsRow, error) {
	q.Query = strings.TrimSpace(q.Query)
	if len(q.Query) > 200 {
		return nil, &FieldError{Field: "q", Message: "is longer than 200 characters"}
	}
	if !plainText(q.Query) {
		return nil, &FieldError{Field: "q", Message: "is not valid text"}
	}
	if !plainText(q.Tag) || len(q.Tag) > 100 {
		return nil, &FieldError{Field: "tag", Message: "is not a tag"}
	}
	if q.Kind != "" && q.Kind != "agent" && q.Kind != "template" {
		return nil, &FieldError{Field: "kind", Message: fmt.Sprintf("%q is not agent or template", clip(q.Kind, 40))}
	}
	if q.Sort == "" {
		q.Sort = "newest"
		if q.Query != "" {
			q.Sort = "relevance"
		}
	}
	if !slices.Contains(Sorts, q.Sort) {
		return nil, &FieldError{Field: "sort", Message: fmt.Sprintf("%q is not one of %s", clip(q.Sort, 40), strings.Join(Sorts, ", "))}
	}
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 50
	}
	if q.Offset > maxOffset {
		return nil, &FieldError{Field: "offset", Message: fmt.Sprintf("must be at most %d; narrow the search instead", maxOffset)}
	}
	return s.q.SearchItems(ctx, db.SearchItemsParams{
		UserID: &user, Shared: s.shared(), Query: q.Query, Kind: q.Kind, Tag: strings.ToLower(strings.TrimSpace(q.Tag)),
		Sort: q.Sort, MaxRows: int32(q.Limit), Skip: int32(max(q.Offset, 0)),
	})
}

// Item is one catalogue item as a user sees it, with its versions.
type Item struct {
	db.GetVisibleItemRow
	Versions         []db.AgentVersion            // an agent's, newest first
	TemplateVersions []db.ListTemplateVersionsRow // a template's, newest first
}

// Mine says the user owns the item.
func (it Item) Mine(user uuid.UUID) bool { return it.OwnerID != nil && *it.OwnerID == user }

// BuiltIn says the item ships with studio.
func (it Item) BuiltIn() bool { return it.OwnerID == nil }

// Hidden says an administrator hid the item.
func (it Item) Hidden() bool { return it.HiddenAt != nil }

// Latest is the item's newest version.
func (it Item) Latest() db.AgentVersion {
	if len(it.Versions) == 0 {
		return db.AgentVersion{}
	}
	return it.Versions[0]
}

// Item finds an item the user may see; another user's private item is
// ErrItemNotFound, as if it did not exist.
func (s *Service) Item(ctx context.Context, user uuid.UUID, id string) (Item, error) {
	if !plainText(id) {
		return Item{}, ErrItemNotFound
	}
	row, err := s.q.GetVisibleItem(ctx, db.GetVisibleItemParams{ID: id, UserID: user, Shared: s.shared()})
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, ErrItemNotFound
	} else if err != nil {
		return Item{}, err
	}
	it := Item{GetVisibleItemRow: row}
	switch row.Kind {
	case "agent":
		it.Versions, err = s.q.ListAgentVersions(ctx, id)
	case "template":
		it.TemplateVersions, err = s.q.ListTemplateVersions(ctx, id)
	}
	if err != nil {
		return Item{}, err
	}
	return it, nil
}

// CreateAgent publishes a new agent, version 1, owned by the user.
func (s *Service) CreateAgent(ctx context.Context, user uuid.UUID, spec AgentSpec) (Item, error) {
	spec, err := s.clean(spec)
	if err != nil {
		return Item{}, err
	}
	id := newItemID(spec.Name)
	if err := s.createAgent(ctx, user, id, spec, pgtype.Text{}); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, id)
}

func (s *Service) createAgent(ctx context.Context, user uuid.UUID, id string, spec AgentSpec, forkedFrom pgtype.Text) error {
	return db.InTx(ctx, s.pool, func(q *db.Queries) error {
		if err := q.CreateItem(ctx, db.CreateItemParams{ID: id, Kind: "agent", OwnerID: &user, Visibility: spec.Visibility,
			Name: spec.Name, Description: spec.Description, Tags: nonNil(spec.Tags), Readme: searchText(spec), Icon: spec.Icon, ForkedFrom: forkedFrom}); err != nil {
			return err
		}
		if err := q.CreateAgent(ctx, db.CreateAgentParams{ID: id, OwnerID: &user, Name: spec.Name, Description: spec.Description,
			Mode: spec.Mode, ReadOnly: spec.ReadOnly, SystemPrompt: spec.SystemPrompt, Tools: nonNil(spec.Tools), Model: spec.Model,
			Temperature: float8(spec.Temperature), Icon: spec.Icon}); err != nil {
			return err
		}
		_, err := q.CreateAgentVersion(ctx, versionParams(id, 1, spec))
		return err
	})
}

// UpdateAgent publishes the spec as the next version of the user's agent;
// earlier versions stay as they were, and installs keep theirs until they
// update.
func (s *Service) UpdateAgent(ctx context.Context, user uuid.UUID, id string, spec AgentSpec) (Item, error) {
	if _, err := s.ownAgent(ctx, user, id); err != nil {
		return Item{}, err
	}
	spec, err := s.clean(spec)
	if err != nil {
		return Item{}, err
	}
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		version, err := q.UpdateItem(ctx, db.UpdateItemParams{ID: id, OwnerID: &user, Visibility: spec.Visibility,
			Name: spec.Name, Description: spec.Description, Tags: nonNil(spec.Tags), Readme: searchText(spec), Icon: spec.Icon})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrItemNotFound // deleted meanwhile
		} else if err != nil {
			return err
		}
		if err := q.UpdateAgentHead(ctx, db.UpdateAgentHeadParams{ID: id, Name: spec.Name, Description: spec.Description,
			Mode: spec.Mode, ReadOnly: spec.ReadOnly, SystemPrompt: spec.SystemPrompt, Tools: nonNil(spec.Tools), Model: spec.Model,
			Temperature: float8(spec.Temperature), Icon: spec.Icon, Version: version}); err != nil {
			return err
		}
		_, err = q.CreateAgentVersion(ctx, versionParams(id, version, spec))
		return err
	})
	if err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, id)
}

// ownAgent is the user's own agent item, or why it is not theirs to change.
func (s *Service) ownAgent(ctx context.Context, user uuid.UUID, id string) (Item, error) {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return Item{}, err
	}
	if it.Kind != "agent" {
		return Item{}, ErrNotAnAgent
	}
	if !it.Mine(user) {
		return Item{}, ErrNotOwner
	}
	return it, nil
}

// ForkAgent copies the latest version of any agent the user may see into a
// new private agent of theirs.
func (s *Service) ForkAgent(ctx context.Context, user uuid.UUID, id string) (Item, error) {
	src, err := s.Item(ctx, user, id)
	if err != nil {
		return Item{}, err
	}
	if src.Kind != "agent" {
		return Item{}, ErrNotAnAgent
	}
	if src.Hidden() && !src.Mine(user) {
		return Item{}, ErrItemHidden
	}
	if s.mode() == MarketplaceOff {
		return Item{}, ErrPublishingOff
	}
	v := src.Latest()
	spec := SpecOf(v, src.Tags, "private")
	spec.Name = forkName(v.Name)
	if spec, err = s.clean(spec); err != nil {
		return Item{}, err
	}
	newID := newItemID(spec.Name)
	if err := s.createAgent(ctx, user, newID, spec, pgtype.Text{String: id, Valid: true}); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, newID)
}

func forkName(name string) string {
	const suffix = " (fork)"
	if r := []rune(name); len(r)+len(suffix) > MaxAgentName {
		name = string(r[:MaxAgentName-len(suffix)])
	}
	return name + suffix
}

// SpecOf is a version as the editor shows it.
func SpecOf(v db.AgentVersion, tags []string, visibility string) AgentSpec {
	spec := AgentSpec{Name: v.Name, Description: v.Description, SystemPrompt: v.SystemPrompt, Tools: v.Tools, Mode: v.Mode,
		ReadOnly: v.ReadOnly, Model: v.Model, Icon: v.Icon, Tags: tags, Visibility: visibility, Readme: v.Readme}
	if v.Temperature.Valid {
		t := v.Temperature.Float64
		spec.Temperature = &t
	}
	return spec
}

// DeleteAgent removes the user's agent with its versions, installs and
// ratings; runs that used it keep its id and version as a record.
func (s *Service) DeleteAgent(ctx context.Context, user uuid.UUID, id string) error {
	if _, err := s.ownAgent(ctx, user, id); err != nil {
		return err
	}
	return s.DeleteItem(ctx, user, id)
}

// Install adds another user's published agent to the user's library at
// its latest version; installing again updates it.
func (s *Service) Install(ctx context.Context, user uuid.UUID, id string) (Item, error) {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return Item{}, err
	}
	if it.BuiltIn() || it.Mine(user) {
		return Item{}, ErrAlreadyYours
	}
	if it.Hidden() {
		return Item{}, ErrItemHidden
	}
	if err := s.q.InstallItem(ctx, db.InstallItemParams{UserID: user, ItemID: id, Version: it.LatestVersion}); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, id)
}

// Uninstall takes an installed item out of the user's library. An item
// that has left the user's sight since (made private, or hidden) can
// still be uninstalled; the Item returned for it then is the zero Item.
func (s *Service) Uninstall(ctx context.Context, user uuid.UUID, id string) (Item, error) {
	it, err := s.Item(ctx, user, id)
	if errors.Is(err, ErrItemNotFound) {
		n, err := s.q.UninstallItem(ctx, db.UninstallItemParams{UserID: user, ItemID: id})
		if err == nil && n == 0 {
			err = ErrItemNotFound // nothing of it is the user's: no sign it exists
		}
		return Item{}, err
	}
	if err != nil {
		return Item{}, err
	}
	n, err := s.q.UninstallItem(ctx, db.UninstallItemParams{UserID: user, ItemID: id})
	if err != nil {
		return Item{}, err
	}
	if n == 0 {
		return it, ErrNotInstalled
	}
	after, err := s.Item(ctx, user, id)
	if errors.Is(err, ErrItemNotFound) { // a hidden item leaves the user's sight with its install
		it.InstalledVersion = pgtype.Int4{}
		return it, nil
	}
	return after, err
}

// Rate records the user's 1–5 stars for an item; rating again changes
// their rating, never adds a second one.
func (s *Service) Rate(ctx context.Context, user uuid.UUID, id string, stars int) (Item, error) {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return Item{}, err
	}
	if stars < 1 || stars > 5 {
		return Item{}, &FieldError{Field: "stars", Message: "give 1 to 5 stars"}
	}
	if it.Mine(user) {
		return Item{}, ErrRateOwn
	}
	if err := s.q.RateItem(ctx, db.RateItemParams{UserID: user, ItemID: id, Stars: int16(stars)}); err != nil {
		return Item{}, err
	}
	return s.Item(ctx, user, id)
}

// Library is the user's own items and the ones they installed.
func (s *Service) Library(ctx context.Context, user uuid.UUID) ([]db.ListLibraryRow, error) {
	return s.q.ListLibrary(ctx, db.ListLibraryParams{UserID: user, Shared: s.shared()})
}

func versionParams(id string, version int32, spec AgentSpec) db.CreateAgentVersionParams {
	return db.CreateAgentVersionParams{AgentID: id, Version: version, Name: spec.Name, Description: spec.Description,
		Mode: spec.Mode, ReadOnly: spec.ReadOnly, SystemPrompt: spec.SystemPrompt, Tools: nonNil(spec.Tools), Model: spec.Model,
		Temperature: float8(spec.Temperature), Icon: spec.Icon, Readme: spec.Readme}
}

// searchText is what search reads of an agent besides its name, tags and
// description (the item's readme column): its README, then its prompt.
func searchText(spec AgentSpec) string {
	if spec.Readme == "" {
		return spec.SystemPrompt
	}
	return spec.Readme + "\n\n" + spec.SystemPrompt
}

func float8(v *float64) pgtype.Float8 {
	if v == nil {
		return pgtype.Float8{}
	}
	return pgtype.Float8{Float64: *v, Valid: true}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// newItemID is a readable, unguessable id: the name as a slug and a
// random suffix.
func newItemID(name string) string {
	slug := strings.Trim(notSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(slug) > 40 {
		slug = strings.TrimRight(slug[:40], "-")
	}
	if slug == "" {
		slug = "agent"
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return slug + "-" + hex.EncodeToString(b)
}
