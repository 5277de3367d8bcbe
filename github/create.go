package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"studio/internal/text"
)

// What GitHub allows in a repository's name and in an account's.
var (
	repoName  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	ownerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}$`)
)

// checkRepoName refuses a name GitHub would not take (it would quietly
// replace other characters with dashes).
func checkRepoName(field, name string) error {
	if !repoName.MatchString(name) || name == "." || name == ".." {
		return &Invalid{Field: field, Message: fmt.Sprintf("%s is not a GitHub repository name: use up to 100 letters, digits, dots, dashes and underscores", strconv.Quote(text.Clip(name, 120)))}
	}
	return nil
}

// checkFullName refuses anything but owner/repo.
func checkFullName(fullName string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || !ownerName.MatchString(owner) || checkRepoName("repo", name) != nil {
		return "", "", &Invalid{Field: "repo", Message: fmt.Sprintf("%s is not a GitHub repository: give it as owner/name", strconv.Quote(text.Clip(fullName, 120)))}
	}
	return owner, name, nil
}

// CreateRepo makes a repository on the person's account (POST
// /user/repos), empty, for studio to push a project to.
func (s *Service) CreateRepo(ctx context.Context, userID uuid.UUID, name string, private bool, description string) (Repo, error) {
	name = strings.TrimSpace(name)
	if err := checkRepoName("name", name); err != nil {
		return Repo{}, err
	}
	token, err := s.Token(ctx, userID)
	if err != nil {
		return Repo{}, err
	}
	return s.createRepo(ctx, token, name, private, description)
}

func (s *Service) createRepo(ctx context.Context, token, name string, private bool, description string) (Repo, error) {
	req := map[string]any{"name": name, "private": private, "description": description, "auto_init": false}
	var created apiRepo
	_, err := s.call(ctx, token, http.MethodPost, "/user/repos", req, &created)
	var failure *Failure
	if errors.As(err, &failure) && failure.Kind == Refused && strings.Contains(failure.Message, "already exists") {
		return Repo{}, &Failure{Kind: Refused, Message: fmt.Sprintf("a repository named %s already exists on your GitHub account", name)}
	} else if err != nil {
		return Repo{}, err
	}
	return created.repo(), nil
}

// branchPages bounds the listing of a repository's branches, 100 a page.
const branchPages = 10

// Branches lists a repository's branches (owner/repo), in GitHub's
// order, at most a thousand.
func (s *Service) Branches(ctx context.Context, userID uuid.UUID, fullName string) ([]string, error) {
	if _, _, err := checkFullName(fullName); err != nil {
		return nil, err
	}
	token, err := s.Token(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.branches(ctx, token, fullName)
}

func (s *Service) branches(ctx context.Context, token, fullName string) ([]string, error) {
	owner, name, err := checkFullName(fullName)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for p, read := 1, 0; read < branchPages; read++ {
		var list []struct {
			Name string `json:"name"`
		}
		q := url.Values{"per_page": {"100"}, "page": {strconv.Itoa(p)}}
		hdr, err := s.get(ctx, token, "/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name)+"/branches?"+q.Encode(), &list)
		var failure *Failure
		if errors.As(err, &failure) && failure.Kind == NotFound {
			return nil, &Failure{Kind: NotFound, Message: fmt.Sprintf("the repository %s does not exist on GitHub, or the connection's token has no access to it", fullName)}
		} else if err != nil {
			return nil, err
		}
		for _, b := range list {
			out = append(out, b.Name)
		}
		next := nextPage(hdr.Get("Link"))
		if next <= p {
			break
		}
		p = next
	}
	return out, nil
}
