package github

import "testing"

func TestGitHubNextPage(t *testing.T) {
	for link, want := range map[string]int{
		"": 0,
		`<https://api.github.com/user/repos?page=2&per_page=30>; rel="next", <https://api.github.com/user/repos?page=5&per_page=30>; rel="last"`: 2,
		`<https://api.github.com/user/repos?page=1>; rel="prev", <https://api.github.com/user/repos?page=1>; rel="first"`:                        0,
		`<https://ghe.example.com/api/v3/user/repos?per_page=100&page=3>; rel="next"`:                                                            3,
		`<https://api.github.com/user/repos?page=x>; rel="next"`:                                                                                 0,
	} {
		if got := nextPage(link); got != want {
			t.Errorf("nextPage(%q) = %d, want %d", link, got, want)
		}
	}
}
