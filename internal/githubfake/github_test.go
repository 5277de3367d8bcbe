package githubfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func call(t *testing.T, method, u, token, body string) (*http.Response, any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out any
	json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

// A created repository is empty, takes a push with its owner's token
// only, and lists its branches; a second with the same name is refused.
func TestCreatePushBranches(t *testing.T) {
	t.Parallel()
	gh := New(t)
	token, other := gh.Issue("octo-ada"), gh.Issue("mallory")
	res, out := call(t, "POST", gh.URL+"/api/v3/user/repos", token, `{"name":"site","private":true,"description":"d"}`)
	repo, _ := out.(map[string]any)
	if res.StatusCode != http.StatusCreated || repo["full_name"] != "octo-ada/site" || repo["clone_url"] != gh.CloneURL("octo-ada/site") || repo["default_branch"] != "main" {
		t.Fatalf("create: %d %v", res.StatusCode, out)
	}
	res, out = call(t, "POST", gh.URL+"/api/v3/user/repos", token, `{"name":"site"}`)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(toJSON(out), "name already exists on this account") {
		t.Fatalf("create twice: %d %v", res.StatusCode, out)
	}
	branches := gh.URL + "/api/v3/repos/octo-ada/site/branches"
	if res, out := call(t, "GET", branches, token, ""); res.StatusCode != http.StatusOK || toJSON(out) != "[]" {
		t.Fatalf("an empty repository's branches: %d %v", res.StatusCode, out)
	}
	if res, _ := call(t, "GET", branches, other, ""); res.StatusCode != http.StatusNotFound {
		t.Fatalf("another's private branches: %d", res.StatusCode)
	}

	work := t.TempDir()
	git(t, work, "init", "-q", "-b", "main")
	writeFiles(t, work, map[string]string{"index.html": "hello"})
	git(t, work, "add", "-A")
	git(t, work, "commit", "-q", "-m", "first")
	with := func(tok string) string {
		u, _ := url.Parse(gh.CloneURL("octo-ada/site"))
		u.User = url.UserPassword("x-access-token", tok)
		return u.String()
	}
	if _, err := run(author, work, "push", "-q", with(other), "main"); err == nil {
		t.Fatal("another's token pushed")
	}
	git(t, work, "push", "-q", with(token), "main")
	gh.PushCommit(t, "octo-ada/site", "feature", map[string]string{"b.txt": "b"}, "from elsewhere")
	if got := gh.HeadMessage(t, "octo-ada/site", "feature"); got != "from elsewhere" {
		t.Fatalf("head message: %q", got)
	}
	if got := gh.Show(t, "octo-ada/site", "feature", "index.html"); got != "hello" {
		t.Fatalf("show: %q", got)
	}
	res, out = call(t, "GET", branches+"?per_page=1", token, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(toJSON(out), `"name":"feature"`) || !strings.Contains(res.Header.Get("Link"), `page=2&per_page=1>; rel="next"`) {
		t.Fatalf("branches page 1: %d %v %q", res.StatusCode, out, res.Header.Get("Link"))
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A browser is shown an Authorize button; pressing it sends it back with
// a code that GitHub exchanges for a token of the Approver.
func TestAuthorizePage(t *testing.T) {
	t.Parallel()
	gh := New(t)
	gh.Approver = "octo-ada"
	q := url.Values{"client_id": {gh.ClientID}, "redirect_uri": {"http://studio.test/callback"}, "state": {"s1"}}
	res, err := http.Get(gh.URL + "/login/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), ">Authorize</button>") {
		t.Fatalf("authorize page: %d %s", res.StatusCode, page)
	}
	res, err = http.DefaultTransport.RoundTrip(mustPost(t, gh.URL+"/login/oauth/authorize", q))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || back.Host != "studio.test" || back.Query().Get("state") != "s1" {
		t.Fatalf("authorize: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	exchange := url.Values{"client_id": {gh.ClientID}, "client_secret": {gh.Secret}, "code": {back.Query().Get("code")}}
	req := mustPost(t, gh.URL+"/login/oauth/access_token", exchange)
	req.Header.Set("Accept", "application/json")
	res, out := do(t, req)
	token, _ := out.(map[string]any)["access_token"].(string)
	if res.StatusCode != http.StatusOK || gh.Login(token) != "octo-ada" {
		t.Fatalf("exchange: %d %v", res.StatusCode, out)
	}
}

func mustPost(t *testing.T, u string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
