package handlers

import (
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/auth"
	"studio/config"
)

func (e *testEnv) register(email string) string {
	e.t.Helper()
	res, body := e.json("POST", "/api/auth/register", map[string]string{"email": email, "password": "a long password", "name": "Test"})
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("register %s: %d %v", email, res.StatusCode, body)
	}
	return body["access_token"].(string)
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func TestAPIRegisterLoginMe(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	res, body := env.json("POST", "/api/auth/register", map[string]string{"email": "Ada@Example.com", "password": "a long password", "name": "Ada"})
	if res.StatusCode != 201 || body["token_type"] != "Bearer" || body["expires_in"].(float64) < 800 {
		t.Fatalf("register: %d %v", res.StatusCode, body)
	}
	user := body["user"].(map[string]any)
	if user["email"] != "ada@example.com" || user["role"] != "admin" || user["password_hash"] != nil {
		t.Fatalf("user: %v", user)
	}
	var refresh *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "studio_refresh" {
			refresh = c
		}
	}
	if refresh == nil || !refresh.HttpOnly || refresh.Path != "/api/auth" || refresh.SameSite != http.SameSiteStrictMode {
		t.Fatalf("refresh cookie: %+v", refresh)
	}
	res, body = env.json("GET", "/api/auth/me", nil, bearer(body["access_token"].(string))...)
	if res.StatusCode != 200 || body["user"].(map[string]any)["email"] != "ada@example.com" {
		t.Fatalf("me: %d %v", res.StatusCode, body)
	}
	res, body = env.json("POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": "a long password"})
	if res.StatusCode != 200 || body["access_token"] == "" {
		t.Fatalf("login: %d %v", res.StatusCode, body)
	}
}

func TestAPIBadInput(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cases := []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"malformed", `{"email":`, "application/json", 400, "bad_json"},
		{"not an object", `["a"]`, "application/json", 400, "bad_json"},
		{"unknown field", `{"email":"a@example.com","password":"a long password","admin":true}`, "application/json", 400, "unknown_field"},
		{"two objects", `{"email":"a@example.com"}{"x":1}`, "application/json", 400, "bad_json"},
		{"empty", ``, "application/json", 400, "bad_json"},
		{"wrong type", `{"email":5}`, "application/json", 400, "bad_json"},
		{"form body", `email=a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"short password", `{"email":"a@example.com","password":"short"}`, "application/json", 422, "invalid_field"},
		{"long password", `{"email":"a@example.com","password":"` + strings.Repeat("p", 73) + `"}`, "application/json", 422, "invalid_field"},
		{"bad email", `{"email":"nope","password":"a long password"}`, "application/json", 422, "invalid_field"},
		{"oversized", `{"email":"` + strings.Repeat("a", 20000) + `"}`, "application/json", 413, "too_large"},
	}
	for _, c := range cases {
		res, body := env.do("POST", "/api/auth/register", strings.NewReader(c.body), "Content-Type", c.ctype)
		if res.StatusCode != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s; want %d %s", c.name, res.StatusCode, body, c.status, c.code)
		}
	}
	res, body := env.json("POST", "/api/auth/register", map[string]string{"email": "a@example.com", "password": strings.Repeat("p", 73)})
	if msg := body["error"].(map[string]any)["message"].(string); res.StatusCode != 422 || !strings.Contains(msg, "72 bytes") {
		t.Errorf("long password message: %q", msg)
	}
	env.register("taken@example.com")
	if res, body := env.json("POST", "/api/auth/register", map[string]string{"email": "TAKEN@example.com", "password": "a long password"}); res.StatusCode != 409 || errorCode(body) != "email_taken" {
		t.Errorf("duplicate email: %d %v", res.StatusCode, body)
	}
}

// slowBackoff makes the first delay long enough that no test machine
// outruns it.
func slowBackoff(_ *config.Config, d *Deps) {
	d.Auth.Backoff = auth.Backoff{Free: 5, First: time.Minute, Max: time.Minute}
}

func TestAPILoginFailuresLookAlikeAndThrottle(t *testing.T) {
	t.Parallel()
	env := newEnv(t, slowBackoff)
	env.register("a@example.com")
	_, wrongEmail := env.do("POST", "/api/auth/login", strings.NewReader(`{"email":"b@example.com","password":"a long password"}`), "Content-Type", "application/json")
	res, wrongPw := env.do("POST", "/api/auth/login", strings.NewReader(`{"email":"a@example.com","password":"not the password"}`), "Content-Type", "application/json")
	if res.StatusCode != 401 || wrongEmail != wrongPw || !strings.Contains(wrongPw, "invalid_credentials") {
		t.Fatalf("wrong email %q vs wrong password %q (%d)", wrongEmail, wrongPw, res.StatusCode)
	}
	for i := 0; i < 4; i++ {
		env.json("POST", "/api/auth/login", map[string]string{"email": "a@example.com", "password": "not the password"})
	}
	// Five failures start a delay; during it even the right password is
	// answered 429 without being checked.
	res, body := env.json("POST", "/api/auth/login", map[string]string{"email": "a@example.com", "password": "a long password"})
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	msg, _ := body["error"].(map[string]any)["message"].(string)
	if res.StatusCode != 429 || errorCode(body) != "throttled" || retry < 1 || retry > 60 || msg != "too many sign-in attempts; try again in "+strconv.Itoa(retry)+" s" {
		t.Fatalf("after 5 failures: %d %v Retry-After %q", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
}

func TestAPIRefreshRotationReuseAndLogout(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.register("a@example.com")
	stolen := env.client.Jar.Cookies(mustURL(env.http.URL + "/api/auth/refresh"))
	res, body := env.json("POST", "/api/auth/refresh", nil)
	if res.StatusCode != 200 || body["access_token"] == "" {
		t.Fatalf("refresh: %d %v", res.StatusCode, body)
	}
	// The thief replays the first cookie: the family dies, for both of them.
	thief := &testEnv{t: t, http: env.http, client: &http.Client{Jar: newJar()}}
	thief.client.Jar.SetCookies(mustURL(env.http.URL+"/api/auth/"), stolen)
	if res, body := thief.json("POST", "/api/auth/refresh", nil); res.StatusCode != 401 || errorCode(body) != "invalid_refresh_token" {
		t.Fatalf("reused token: %d %v", res.StatusCode, body)
	}
	if res, _ := env.json("POST", "/api/auth/refresh", nil); res.StatusCode != 401 {
		t.Fatalf("owner's rotated token after theft: %d", res.StatusCode)
	}
	// A new sign-in, then logout: the refresh token stops working.
	env.json("POST", "/api/auth/login", map[string]string{"email": "a@example.com", "password": "a long password"})
	kept := env.client.Jar.Cookies(mustURL(env.http.URL + "/api/auth/refresh"))
	if res, _ := env.json("POST", "/api/auth/logout", nil); res.StatusCode != 204 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	env.client.Jar.SetCookies(mustURL(env.http.URL+"/api/auth/"), kept)
	if res, _ := env.json("POST", "/api/auth/refresh", nil); res.StatusCode != 401 {
		t.Fatalf("refresh after logout: %d", res.StatusCode)
	}
	if res, _ := env.json("POST", "/api/auth/refresh", nil, "Cookie", ""); res.StatusCode != 401 {
		t.Fatalf("refresh without cookie: %d", res.StatusCode)
	}
}

func TestAPITokenRequired(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	for name, h := range map[string][]string{
		"none":     nil,
		"garbage":  bearer("garbage"),
		"basic":    {"Authorization", "Basic YTpi"},
		"alg none": bearer("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJzdHVkaW8iLCJhdWQiOlsic3R1ZGlvLWFwaSJdLCJzdWIiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCJleHAiOjk5OTk5OTk5OTl9."),
	} {
		if res, body := env.json("GET", "/api/auth/me", nil, h...); res.StatusCode != 401 || errorCode(body) == "" {
			t.Errorf("%s: %d %v", name, res.StatusCode, body)
		}
	}
}

func TestAPIProviderKeys(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")
	res, body := env.json("PUT", "/api/settings/providers/openai", map[string]string{"api_key": "sk-test-abcdefgh1234"}, bearer(alice)...)
	if res.StatusCode != 200 || body["configured"] != true || body["key_hint"] != "…1234" {
		t.Fatalf("put: %d %v", res.StatusCode, body)
	}
	res, text := env.do("GET", "/api/settings/providers", nil, bearer(alice)...)
	if res.StatusCode != 200 || strings.Contains(text, "sk-test") || !strings.Contains(text, `"provider":"openai","configured":true`) {
		t.Fatalf("list leaks or lacks the key: %s", text)
	}
	if _, text := env.do("GET", "/api/settings/providers", nil, bearer(bob)...); strings.Contains(text, `"configured":true`) {
		t.Fatalf("bob sees alice's provider: %s", text)
	}
	if res, body := env.json("PUT", "/api/settings/providers/openai_compatible", map[string]string{"api_key": "x"}, bearer(alice)...); res.StatusCode != 422 || body["error"].(map[string]any)["field"] != "base_url" {
		t.Fatalf("compatible without base_url: %d %v", res.StatusCode, body)
	}
	if res, _ := env.json("PUT", "/api/settings/providers/ollama", map[string]string{"base_url": "ftp://x"}, bearer(alice)...); res.StatusCode != 422 {
		t.Fatalf("bad base url: %d", res.StatusCode)
	}
	if res, body := env.json("PUT", "/api/settings/providers/ollama", map[string]string{}, bearer(alice)...); res.StatusCode != 200 || body["base_url"] != "http://127.0.0.1:11434/v1" {
		t.Fatalf("ollama default: %d %v", res.StatusCode, body)
	}
	if res, _ := env.json("PUT", "/api/settings/providers/skynet", map[string]string{"api_key": "x"}, bearer(alice)...); res.StatusCode != 404 {
		t.Fatalf("unknown provider: %d", res.StatusCode)
	}
	if res, _ := env.json("DELETE", "/api/settings/providers/openai", nil, bearer(bob)...); res.StatusCode != 404 {
		t.Fatalf("bob deleting alice's key: %d", res.StatusCode)
	}
	if res, _ := env.json("DELETE", "/api/settings/providers/openai", nil, bearer(alice)...); res.StatusCode != 204 {
		t.Fatalf("delete: %d", res.StatusCode)
	}
}

func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}

// A token signed with a key this studio never had is refused like any
// forged token.
func TestAPIUnknownKeyID(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.register("a@example.com")
	other, err := auth.LoadKeyring(strings.Repeat("x", 32), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var id string
	env.pool.QueryRow(t.Context(), "SELECT id::text FROM users").Scan(&id)
	forged, _, err := auth.NewTokens(other).Issue(uuid.MustParse(id))
	if err != nil {
		t.Fatal(err)
	}
	res, body := env.do("GET", "/api/auth/me", nil, bearer(forged)...)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "invalid_token") {
		t.Fatalf("unknown kid: %d %s", res.StatusCode, body)
	}
}
