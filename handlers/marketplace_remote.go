package handlers

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"studio/agents"
	"studio/catalogues"
	"studio/views"
)

// bundleImporter makes a downloaded bundle a private item of the user's
// and returns its id.
type bundleImporter func(ctx context.Context, user uuid.UUID, data []byte) (itemID string, err error)

// remoteKind is how an item of one kind is installed from a catalogue.
type remoteKind struct {
	maxBytes int64 // the largest bundle downloaded
	install  bundleImporter
}

// remoteKinds are the kinds a catalogue's items can be installed as; an
// item of another kind is listed but answers 501.
func (s *Server) remoteKinds() map[string]remoteKind {
	return map[string]remoteKind{
		"agent":    {maxBytes: maxBundleBody, install: s.importAgentBytes},
		"template": {maxBytes: s.Agents.TemplateLimits().MaxBundle, install: s.importTemplateBytes},
	}
}

// importTemplateBytes imports a .studio-template.tar.gz file with the same
// checks as an upload.
func (s *Server) importTemplateBytes(ctx context.Context, user uuid.UUID, data []byte) (string, error) {
	it, err := s.Agents.ImportTemplate(ctx, user, data)
	if err != nil {
		return "", templateError(err)
	}
	return it.ID, nil
}

// importAgentBytes imports a .studio-agent.json file through the same
// decoder and checks as an upload.
func (s *Server) importAgentBytes(ctx context.Context, user uuid.UUID, data []byte) (string, error) {
	var b agents.Bundle
	if err := decodeJSONFrom(bytes.NewReader(data), maxBundleBody, &b); err != nil {
		return "", err
	}
	it, err := s.Agents.ImportBundle(ctx, user, b)
	if err != nil {
		return "", bundleError(err)
	}
	return it.ID, nil
}

// remoteCatalogueJSON is a catalogue in GET /api/marketplace/remote.
type remoteCatalogueJSON struct {
	Ref       int              `json:"ref"`
	URL       string           `json:"url"`
	Host      string           `json:"host"`
	Name      string           `json:"name"`
	OK        bool             `json:"ok"`
	Error     string           `json:"error,omitempty"`
	Skipped   int              `json:"skipped"`
	FetchedAt time.Time        `json:"fetched_at"`
	Items     []remoteItemJSON `json:"items"`
}

type remoteItemJSON struct {
	catalogues.Item
	Installable bool `json:"installable"`
}

func (s *Server) apiRemoteCatalogues(c echo.Context) error {
	out := []remoteCatalogueJSON{}
	if s.Catalogues != nil {
		kinds := s.remoteKinds()
		for _, cat := range s.Catalogues.List(c.Request().Context()) {
			j := remoteCatalogueJSON{Ref: cat.Ref, URL: cat.URL, Host: cat.Host, Name: cat.Name, OK: cat.Err == nil,
				Error: catalogues.Note(cat.Err), Skipped: cat.Skipped, FetchedAt: cat.FetchedAt, Items: []remoteItemJSON{}}
			for _, it := range cat.Items {
				_, ok := kinds[it.Kind]
				j.Items = append(j.Items, remoteItemJSON{Item: it, Installable: ok && s.canCreate()})
			}
			out = append(out, j)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"catalogues": out})
}

// remoteCatalogues are the catalogues as the marketplace page shows them;
// nil when there are none.
func (s *Server) remoteCatalogues(c echo.Context) []views.RemoteCatalogue {
	if s.Catalogues == nil {
		return nil
	}
	kinds := s.remoteKinds()
	out := []views.RemoteCatalogue{}
	for _, cat := range s.Catalogues.List(c.Request().Context()) {
		v := views.RemoteCatalogue{Ref: strconv.Itoa(cat.Ref), Name: cat.Name, Host: cat.Host, Note: catalogues.Note(cat.Err), Skipped: cat.Skipped}
		for _, it := range cat.Items {
			_, ok := kinds[it.Kind]
			v.Items = append(v.Items, views.RemoteItem{ID: it.ID, Kind: it.Kind, Name: it.Name, Description: it.Description,
				Tags: it.Tags, Version: it.Version, Installable: ok})
		}
		out = append(out, v)
	}
	return out
}

// installRemote downloads a catalogue's item, checks it against the
// index's digest and imports it as the user's; nothing is stored on any
// refusal.
func (s *Server) installRemote(c echo.Context, ref, id string) (agents.Item, error) {
	ctx, user := c.Request().Context(), currentUser(c).ID
	if s.Catalogues == nil {
		return agents.Item{}, remoteError(catalogues.ErrNoCatalogue)
	}
	if !s.canCreate() { // an import makes an agent of the user's
		return agents.Item{}, marketplaceError(agents.ErrPublishingOff)
	}
	cat, it, err := s.Catalogues.Find(ctx, ref, id)
	if err != nil {
		return agents.Item{}, remoteError(err)
	}
	kind, ok := s.remoteKinds()[it.Kind]
	if !ok {
		return agents.Item{}, NewError(http.StatusNotImplemented, "not_supported", capitalize(it.Kind)+"s from remote catalogues are not supported yet.")
	}
	data, err := s.Catalogues.Download(ctx, it, kind.maxBytes)
	if err != nil {
		return agents.Item{}, remoteError(err)
	}
	newID, err := kind.install(ctx, user, data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge) {
			return agents.Item{}, NewError(http.StatusUnprocessableEntity, "bad_bundle", "The catalogue's bundle is refused: "+e.Message)
		}
		return agents.Item{}, err
	}
	s.log(c).Info("installed from a catalogue", "catalogue", cat.URL, "id", id, "item", newID)
	return s.Agents.Item(ctx, user, newID)
}

// remoteError maps a catalogue's refusals to answers: the caller's mistake
// is 404, the catalogue's fault 502, logged with its cause.
func remoteError(err error) error {
	var tooLarge *catalogues.TooLargeError
	badGateway := func(code, message string) error {
		return &Error{Status: http.StatusBadGateway, Code: code, Message: message, Err: err}
	}
	switch {
	case errors.Is(err, catalogues.ErrNoCatalogue), errors.Is(err, catalogues.ErrNoItem):
		return NewError(http.StatusNotFound, "not_found", capitalize(err.Error())+".")
	case errors.Is(err, catalogues.ErrUnavailable):
		return badGateway("catalogue_unavailable", "The catalogue could not be read: "+catalogues.Note(err)+".")
	case errors.Is(err, catalogues.ErrDigest):
		return badGateway("digest_mismatch", capitalize(catalogues.Note(err))+".")
	case errors.As(err, &tooLarge):
		return badGateway("bundle_too_large", capitalize(tooLarge.Error())+".")
	}
	return badGateway("download_failed", "The bundle could not be downloaded: "+catalogues.Note(err)+".")
}

// remoteInstallRequest names a catalogue by its place (ref, a number) or
// its index's address, and an item in it.
type remoteInstallRequest struct {
	Catalogue any    `json:"catalogue"`
	ID        string `json:"id"`
}

func (s *Server) apiRemoteInstall(c echo.Context) error {
	var req remoteInstallRequest
	if err := decodeJSON(c, 4<<10, &req); err != nil {
		return err
	}
	var ref string
	switch v := req.Catalogue.(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e6 {
			ref = strconv.Itoa(int(v))
		}
	case string:
		ref = v
	}
	if ref == "" {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Field: "catalogue",
			Message: "catalogue: give the catalogue's ref in GET /api/marketplace/remote or the address of its index"}
	}
	if req.ID == "" {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Field: "id", Message: "id: give the item's id in the catalogue"}
	}
	it, err := s.installRemote(c, ref, req.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"item": s.toItemJSON(c, it)})
}

// remoteInstallForm is the Install button of a catalogue's item: 303 to
// the new item, or the error page with the reason.
func (s *Server) remoteInstallForm(c echo.Context) error {
	it, err := s.installRemote(c, c.FormValue("catalogue"), c.FormValue("id"))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/marketplace/items/"+it.ID)
}
