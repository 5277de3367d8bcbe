package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// apiCall sends a JSON request to studio with a bearer token and decodes
// the answer into out (when not nil).
func apiCall(t testing.TB, s *studio, token, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// uiSignIn signs in through the sign-in form, as a browser without
// JavaScript would, and returns the cookies studio set: an attacker's own
// session and CSRF values, ready to be planted elsewhere.
func uiSignIn(t *testing.T, s *studio, email, password string) map[string]string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get("http://" + s.addr + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page")
	}
	res, err = client.PostForm("http://"+s.addr+"/login", url.Values{"csrf_token": {string(m[1])}, "email": {email}, "password": {password}})
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("attacker sign-in: %v %v", err, res)
	}
	res.Body.Close()
	out := map[string]string{}
	for _, c := range jar.Cookies(&url.URL{Scheme: "http", Host: s.addr}) {
		out[c.Name] = c.Value
	}
	return out
}

// trapPage plants cookies for the UI's domain with longer paths, which the
// browser sends before the victim's own: on /login a session that does not
// exist (so the victim looks signed out) and the attacker's CSRF cookie,
// on /settings the attacker's session. Then it posts the attacker's
// credentials to the UI's sign-in form.
func trapPage(s *studio, email, password string, cookies map[string]string) string {
	plant := map[string]map[string]string{
		"/login":    {"studio_session": "signed-out", "studio_csrf": cookies["studio_csrf"]},
		"/settings": {"studio_session": cookies["studio_session"], "studio_csrf": cookies["studio_csrf"]},
	}
	var js strings.Builder
	for _, path := range []string{"/login", "/settings"} {
		for _, name := range []string{"studio_session", "studio_csrf"} {
			for _, prefix := range []string{"", "__Host-"} {
				js.WriteString("document.cookie = " + jsString(prefix+name+"="+plant[path][name]+"; Domain=studio.localhost; Path="+path) + ";\n")
			}
		}
	}
	return `<!doctype html><html><body><h1>Free templates</h1>
<form id="f" method="post" action="` + s.base + `/login">
<input name="csrf_token" value="` + cookies["studio_csrf"] + `">
<input name="email" value="` + email + `"><input name="password" value="` + password + `">
</form>
<script>
` + js.String() + `setTimeout(function () { document.getElementById("f").submit(); }, 300);
</script></body></html>`
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestCookieTossingFromAPreview: a signed-in victim opens a share link to
// an attacker's project whose page plants studio cookies for the UI's
// domain and posts the attacker's credentials to /login. The victim stays
// signed in as themselves, no attacker session is left in the browser, and
// a key saved on /settings lands in the victim's account.
func TestCookieTossingFromAPreview(t *testing.T) {
	s := startStudio(t)
	ctx := browser(t)
	type css = chromedp.CSS

	// The first action runs on ctx itself: the browser lives as long as
	// the context of its first call.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/signup")); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "victim signs up",
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), "victim@example.com"),
		chromedp.SendKeys(css(`#f-name`), "Victoria"),
		chromedp.SendKeys(css(`#f-password`), "a long password"),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=dashboard]`)),
	)

	// The attacker: an account, a project with the trap page, a share link.
	const attacker, attackerPassword = "mallory@example.com", "mallory's long password"
	var reg struct {
		AccessToken string `json:"access_token"`
	}
	if code := apiCall(t, s, "", "POST", "/api/auth/register", `{"email":"`+attacker+`","password":"`+attackerPassword+`","name":"Mallory"}`, &reg); code != 201 {
		t.Fatalf("attacker registers: %d", code)
	}
	var created struct {
		Project struct {
			ID string `json:"id"`
		} `json:"project"`
	}
	if code := apiCall(t, s, reg.AccessToken, "POST", "/api/projects", `{"name":"Free templates","template":"static"}`, &created); code != 202 {
		t.Fatalf("attacker creates a project: %d", code)
	}
	id := created.Project.ID
	deadline := time.Now().Add(90 * time.Second)
	for {
		var got struct {
			Project struct {
				Status string `json:"status"`
			} `json:"project"`
		}
		apiCall(t, s, reg.AccessToken, "GET", "/api/projects/"+id, "", &got)
		if got.Project.Status == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the attacker's project is %q", got.Project.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	planted := uiSignIn(t, s, attacker, attackerPassword)
	if planted["studio_session"] == "" || planted["studio_csrf"] == "" {
		t.Fatalf("attacker's cookies: %v", planted)
	}
	writeThroughAPI(t, s, attacker, attackerPassword, id, "index.html", trapPage(s, attacker, attackerPassword, planted))
	var share struct {
		URL string `json:"url"`
	}
	if code := apiCall(t, s, reg.AccessToken, "POST", "/api/projects/"+id+"/share", "", &share); code != 200 {
		t.Fatalf("share link: %d", code)
	}

	t.Logf("share link: %s", share.URL)
	// The victim opens the link; the page plants its cookies and posts.
	step(t, ctx, "victim opens the share link", chromedp.Navigate(share.URL), chromedp.WaitVisible(css(`h1`)))
	waitForHost(t, ctx, "studio.localhost:"+s.port)
	step(t, ctx, "the refusal shows", chromedp.WaitVisible(css(`body`)))
	// The trap did plant its copy for /settings (the one for /login went
	// with studio's answer to the forged sign-in).
	if n := cookiesNamed(t, ctx, s.base+"/settings", "studio_session"); n != 2 {
		t.Fatalf("%d studio_session cookies for /settings after the trap, want the victim's and the planted one", n)
	}
	screenshot(t, ctx, "tossing-after-post")
	if text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`)); !strings.Contains(text, "sign in again") && !strings.Contains(text, "another site") {
		t.Fatalf("the forged sign-in was not refused with a clear message:\n%s", text)
	}

	// Still the victim.
	step(t, ctx, "dashboard", chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(css(`[data-testid=dashboard]`)))
	if who, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=current-user]`))); strings.TrimSpace(who) != "Victoria" {
		t.Fatalf("the dashboard is signed in as %q", who)
	}

	// A key saved on /settings lands in the victim's account.
	step(t, ctx, "save a key",
		chromedp.Navigate(s.base+"/settings"),
		chromedp.WaitVisible(css(`#key-openai`)),
		chromedp.SendKeys(css(`#key-openai`), "sk-victim-0123456789abcdef"),
		chromedp.Click(css(`[data-testid=provider-openai] button.btn-primary`)),
		chromedp.WaitVisible(css(`[data-testid=provider-openai] [data-testid=configured]`)),
	)
	if who, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=current-user]`))); strings.TrimSpace(who) != "Victoria" {
		t.Fatalf("/settings is signed in as %q", who)
	}
	configured := func(email, password string) bool {
		var list struct {
			Providers []struct {
				Provider   string `json:"provider"`
				Configured bool   `json:"configured"`
			} `json:"providers"`
		}
		apiCall(t, s, apiToken(t, s, email, password), "GET", "/api/settings/providers", "", &list)
		for _, p := range list.Providers {
			if p.Provider == "openai" && p.Configured {
				return true
			}
		}
		return false
	}
	if !configured("victim@example.com", "a long password") || configured(attacker, attackerPassword) {
		t.Fatal("the key did not land in the victim's account alone")
	}

	// Visit the planted paths once more and look at every cookie the
	// browser holds for the UI: none carries the attacker's session.
	step(t, ctx, "sign-in page", chromedp.Navigate(s.base+"/login"), chromedp.WaitVisible(css(`body`)))
	sessions := 0
	for _, c := range browserCookies(t, ctx, s.base+"/", s.base+"/login", s.base+"/settings", s.base+"/settings/providers/openai") {
		t.Logf("cookie %s domain=%s path=%s", c.Name, c.Domain, c.Path)
		if c.Value == planted["studio_session"] || c.Value == planted["studio_csrf"] || c.Value == "signed-out" {
			t.Errorf("an attacker cookie remains: %s Domain=%s Path=%s", c.Name, c.Domain, c.Path)
		}
		if strings.HasPrefix(c.Domain, ".") {
			t.Errorf("a domain-wide cookie remains: %s Domain=%s Path=%s", c.Name, c.Domain, c.Path)
		}
		if strings.HasSuffix(c.Name, "studio_session") {
			sessions++
		}
	}
	if sessions != 1 {
		t.Errorf("%d session cookies in the browser, want the victim's one", sessions)
	}
}

// waitForHost waits until the tab shows a page of host, through any
// navigations on the way.
func waitForHost(t *testing.T, ctx context.Context, host string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if u, _ := url.Parse(loc); err == nil && u != nil && u.Host == host {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tab never reached %s (at %s: %v)", host, loc, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// browserCookies are the cookies the browser would send to any of urls.
func browserCookies(t *testing.T, ctx context.Context, urls ...string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	return res.Cookies
}

func cookiesNamed(t *testing.T, ctx context.Context, u, name string) int {
	n := 0
	for _, c := range browserCookies(t, ctx, u) {
		if c.Name == name {
			n++
		}
	}
	return n
}
