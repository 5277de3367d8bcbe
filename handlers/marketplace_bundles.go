package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"studio/agents"
)

// maxBundleBody bounds an imported bundle: the largest agent, escaped, and
// its envelope.
const maxBundleBody = maxAgentBody + 16<<10

// bundleError maps an import's refusals to answers.
func bundleError(err error) error {
	switch {
	case errors.Is(err, agents.ErrBundleFormat), errors.Is(err, agents.ErrBundleVersion):
		return NewError(http.StatusBadRequest, "bad_bundle", capitalize(err.Error())+".")
	case errors.Is(err, agents.ErrBundleDigest):
		return NewError(http.StatusBadRequest, "digest_mismatch", capitalize(err.Error())+".")
	}
	return marketplaceError(err)
}

// apiItemBundle downloads an agent the user can see as a bundle file.
func (s *Server) apiItemBundle(c echo.Context) error {
	b, err := s.Agents.ExportBundle(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if errors.Is(err, agents.ErrNotAnAgent) {
		return s.templateBundle(c)
	}
	if err != nil {
		return marketplaceError(err)
	}
	// The id is a slug with a hex suffix, safe in a header.
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+c.Param("id")+`.studio-agent.json"`)
	// json.Marshal, not c.JSON, whose ?pretty would indent the agent away
	// from the bytes its digest is of.
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, data)
}

func (s *Server) apiImportAgent(c echo.Context) error {
	var b agents.Bundle
	if err := decodeJSON(c, maxBundleBody, &b); err != nil {
		return err
	}
	it, err := s.Agents.ImportBundle(c.Request().Context(), currentUser(c).ID, b)
	if err != nil {
		return bundleError(err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"item": s.toItemJSON(c, it)})
}

// importAgentForm imports the uploaded bundle and opens the new agent; a
// refused file leaves the user on the library with the reason.
func (s *Server) importAgentForm(c echo.Context) error {
	it, err := s.importUpload(c)
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/marketplace/items/"+it.ID)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status >= 500 || e.Status == http.StatusNotFound {
		return err
	}
	return s.renderLibrary(c, e.Status, e.Message)
}

// importUpload reads the form's file — an agent bundle, or a template
// bundle (gzip) — and imports it through the API's decoders, so both
// refuse the same files with the same messages.
func (s *Server) importUpload(c echo.Context) (agents.Item, error) {
	fh, err := c.FormFile("bundle")
	if err != nil {
		return agents.Item{}, NewError(http.StatusBadRequest, "bad_form", "Choose a .studio-agent.json or .studio-template.tar.gz file to import.")
	}
	limit := max(int64(maxBundleBody), s.Agents.TemplateLimits().MaxBundle)
	tooLarge := func(limit int64) error {
		return NewError(http.StatusRequestEntityTooLarge, "too_large", "The file is larger than the limit of "+humanBytes(limit)+".")
	}
	if fh.Size > limit {
		return agents.Item{}, tooLarge(limit)
	}
	f, err := fh.Open()
	if err != nil {
		return agents.Item{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return agents.Item{}, err
	}
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) { // gzip: a template bundle
		if int64(len(data)) > s.Agents.TemplateLimits().MaxBundle {
			return agents.Item{}, tooLarge(s.Agents.TemplateLimits().MaxBundle)
		}
		it, err := s.Agents.ImportTemplate(c.Request().Context(), currentUser(c).ID, data)
		if err != nil {
			return agents.Item{}, templateError(err)
		}
		return it, nil
	}
	if len(data) > maxBundleBody {
		return agents.Item{}, tooLarge(maxBundleBody)
	}
	var b agents.Bundle
	if err := decodeJSONFrom(bytes.NewReader(data), maxBundleBody, &b); err != nil {
		return agents.Item{}, err
	}
	it, err := s.Agents.ImportBundle(c.Request().Context(), currentUser(c).ID, b)
	if err != nil {
		return agents.Item{}, bundleError(err)
	}
	return it, nil
}
