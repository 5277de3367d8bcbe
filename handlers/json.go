package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// decodeJSON reads one JSON object into v, refusing other content types,
// unknown fields, trailing data and bodies over limit bytes.
func decodeJSON(c echo.Context, limit int64, v any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
			return NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
		}
	}
	return decodeJSONFrom(http.MaxBytesReader(c.Response(), req.Body, limit), limit, v)
}

// decodeJSONFrom decodes one JSON object, its fields known, from body,
// which is limited to limit bytes.
func decodeJSONFrom(body io.Reader, limit int64, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, limit)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jsonError(err, limit)
		}
		return NewError(http.StatusBadRequest, "bad_json", "The body must hold a single JSON object.")
	}
	return nil
}

func jsonError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return NewError(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("The body is larger than the limit of %s.", humanBytes(limit)))
	case errors.Is(err, io.EOF):
		return NewError(http.StatusBadRequest, "bad_json", "The body is empty; send a JSON object.")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return NewError(http.StatusBadRequest, "bad_json", "The body is not valid JSON.")
	case errors.As(err, &typ):
		return NewError(http.StatusBadRequest, "bad_json", fmt.Sprintf("The field %q must be a %s.", typ.Field, typ.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return NewError(http.StatusBadRequest, "unknown_field", "The body has a field this API does not know: "+strings.TrimPrefix(err.Error(), "json: unknown field ")+".")
	}
	return NewError(http.StatusBadRequest, "bad_json", "The body is not a valid JSON object.")
}

// invalidField is a 422 that names the field at fault.
func invalidField(field string, err error) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: field, Message: field + ": " + err.Error()}
}
