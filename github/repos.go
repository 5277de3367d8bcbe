package github

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// PerPage is how many repositories a page of the listing holds.
const PerPage = 30

// searchPages bounds a search: GitHub's /user/repos has no name filter,
// so a search reads the most recently pushed repositories, 100 a page.
const searchPages = 10

// Repo is one repository as the listing shows it.
type Repo struct {
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url"`
	HTMLURL       string `json:"html_url"`
	DefaultBranch string `json:"default_branch"`
	Private       bool   `json:"private"`
	Description   string `json:"description"`
}

// RepoPage is one page of the person's repositories; NextPage is 0 on
// the last.
type RepoPage struct {
	Repos    []Repo `json:"repos"`
	NextPage int    `json:"next_page"`
}

type apiRepo struct {
	Name          string  `json:"name"`
	FullName      string  `json:"full_name"`
	CloneURL      string  `json:"clone_url"`
	HTMLURL       string  `json:"html_url"`
	DefaultBranch string  `json:"default_branch"`
	Private       bool    `json:"private"`
	Description   *string `json:"description"`
}

func (r apiRepo) repo() Repo {
	out := Repo{FullName: r.FullName, CloneURL: r.CloneURL, HTMLURL: r.HTMLURL, DefaultBranch: r.DefaultBranch, Private: r.Private}
	if r.Description != nil {
		out.Description = *r.Description
	}
	return out
}

// Repos lists the repositories the person can reach, most recently pushed
// first; query, when given, keeps those whose name holds it.
func (s *Service) Repos(ctx context.Context, userID uuid.UUID, query string, page int) (RepoPage, error) {
	token, err := s.Token(ctx, userID)
	if err != nil {
		return RepoPage{}, err
	}
	return s.repos(ctx, token, query, page)
}

func (s *Service) repos(ctx context.Context, token, query string, page int) (RepoPage, error) {
	page = max(page, 1)
	query = strings.ToLower(strings.TrimSpace(query))
	if query == "" {
		list, next, err := s.reposPage(ctx, token, page, PerPage)
		if err != nil {
			return RepoPage{}, err
		}
		out := RepoPage{Repos: make([]Repo, 0, len(list)), NextPage: next}
		for _, r := range list {
			out.Repos = append(out.Repos, r.repo())
		}
		return out, nil
	}
	var matches []Repo
	// GitHub's Link header names the next page; one that does not move
	// forward ends the search, as does the bound.
	for p, read := 1, 0; read < searchPages && len(matches) <= page*PerPage; read++ {
		list, next, err := s.reposPage(ctx, token, p, 100)
		if err != nil {
			return RepoPage{}, err
		}
		for _, r := range list {
			if strings.Contains(strings.ToLower(r.Name), query) {
				matches = append(matches, r.repo())
			}
		}
		if next <= p {
			break
		}
		p = next
	}
	out := RepoPage{Repos: []Repo{}}
	if from := (page - 1) * PerPage; from < len(matches) {
		out.Repos = matches[from:min(from+PerPage, len(matches))]
	}
	if len(matches) > page*PerPage {
		out.NextPage = page + 1
	}
	return out, nil
}

// reposPage reads one page of /user/repos and the next page's number from
// its Link header (0 when there is none).
func (s *Service) reposPage(ctx context.Context, token string, page, perPage int) ([]apiRepo, int, error) {
	q := url.Values{
		"sort":        {"pushed"},
		"direction":   {"desc"},
		"affiliation": {"owner,collaborator,organization_member"},
		"per_page":    {strconv.Itoa(perPage)},
		"page":        {strconv.Itoa(page)},
	}
	var list []apiRepo
	hdr, err := s.get(ctx, token, "/user/repos?"+q.Encode(), &list)
	if err != nil {
		return nil, 0, err
	}
	return list, nextPage(hdr.Get("Link")), nil
}

var linkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="next"`)

// nextPage reads the page number of GitHub's rel="next" link.
func nextPage(link string) int {
	m := linkNext.FindStringSubmatch(link)
	if m == nil {
		return 0
	}
	u, err := url.Parse(m[1])
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(u.Query().Get("page"))
	return max(n, 0)
}
