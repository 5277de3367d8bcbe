package projects

import (
	"crypto/rand"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// reservedSlugs would collide with studio's own host names.
var reservedSlugs = []string{"www", "api", "admin", "studio", "app", "static", "preview", "traefik", "mail", "login", "auth", "dashboard", "localhost"}

func cleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 60 || strings.ContainsAny(name, "\x00\r\n") {
		return "", ErrNameInvalid
	}
	return name, nil
}

// slugFor makes a DNS label from a name: lower-case letters, digits and
// hyphens, at most 40 characters. Later attempts add a random suffix, so a
// taken slug finds a free one without a race.
func slugFor(name string, attempt int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.Trim(b.String(), "-")
	if len(slug) > 40 {
		slug = strings.TrimRight(slug[:40], "-")
	}
	if slug == "" {
		slug = "project"
	}
	if attempt > 0 || slices.Contains(reservedSlugs, slug) {
		slug += "-" + strings.ToLower(rand.Text()[:5])
	}
	return slug
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func (s *Service) checkpointDir(id uuid.UUID) string {
	return filepath.Join(s.opts.Checkpoints, id.String())
}
