// Replaced by the GitHub service's own CreateRepo when that lands.
package github

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
)

func (s *Service) CreateRepo(ctx context.Context, userID uuid.UUID, name string, private bool, description string) (Repo, error) {
	token, err := s.Token(ctx, userID)
	if err != nil {
		return Repo{}, err
	}
	body, _ := json.Marshal(map[string]any{"name": name, "private": private, "description": description})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.APIURL+"/user/repos", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.http.Do(req)
	if err != nil {
		return Repo{}, unreachable(err)
	}
	defer res.Body.Close()
	var r apiRepo
	if res.StatusCode != 201 {
		return Repo{}, &Failure{Message: "create failed " + res.Status}
	}
	json.NewDecoder(res.Body).Decode(&r)
	return r.repo(), nil
}
