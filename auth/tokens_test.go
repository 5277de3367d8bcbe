package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func testTokens(t testing.TB) *Tokens {
	ring, err := LoadKeyring(strings.Repeat("s", 32), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return NewTokens(ring)
}

func TestTokenRoundTrip(t *testing.T) {
	tk := testTokens(t)
	id := uuid.New()
	tok, exp, err := tk.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 14*time.Minute || d > 15*time.Minute {
		t.Fatalf("expiry in %v, want 15m", d)
	}
	got, err := tk.Verify(tok)
	if err != nil || got != id {
		t.Fatalf("verify: %v %v", got, err)
	}
}

func TestTokensRefused(t *testing.T) {
	tk := testTokens(t)
	id := uuid.New()
	good, _, _ := tk.Issue(id)

	expired := testTokens(t)
	expired.now = func() time.Time { return time.Now().Add(-16 * time.Minute) }
	old, _, _ := expired.Issue(id)

	other, _ := LoadKeyring(strings.Repeat("x", 32), "", "")
	wrongKey, _, _ := NewTokens(other).Issue(id)

	claims := jwt.RegisteredClaims{Issuer: tokenIssuer, Audience: jwt.ClaimStrings{tokenAudience}, Subject: id.String(),
		IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	k := tk.ring.Current()
	sign := func(m jwt.SigningMethod, c jwt.Claims, key any) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = k.ID
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs512 := sign(jwt.SigningMethodHS512, claims, k.derive("jwt v1"))
	wrongAud := claims
	wrongAud.Audience = jwt.ClaimStrings{"someone-else"}
	wrongIss := claims
	wrongIss.Issuer = "evil"
	noExp := claims
	noExp.ExpiresAt = nil
	badSub := claims
	badSub.Subject = "root"

	// Forge: keep header and signature, change the payload.
	parts := strings.Split(good, ".")
	forgedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"studio","aud":["studio-api"],"sub":"` + uuid.NewString() + `","exp":9999999999,"iat":1}`))
	forged := parts[0] + "." + forgedPayload + "." + parts[2]

	cases := map[string]string{
		"expired":          old,
		"wrong key":        wrongKey,
		"alg none":         noneTok,
		"HS512":            hs512,
		"wrong audience":   sign(jwt.SigningMethodHS256, wrongAud, k.derive("jwt v1")),
		"wrong issuer":     sign(jwt.SigningMethodHS256, wrongIss, k.derive("jwt v1")),
		"no expiry":        sign(jwt.SigningMethodHS256, noExp, k.derive("jwt v1")),
		"subject not uuid": sign(jwt.SigningMethodHS256, badSub, k.derive("jwt v1")),
		"raw secret key":   sign(jwt.SigningMethodHS256, claims, k.Secret),
		"forged payload":   forged,
		"empty":            "",
		"garbage":          "a.b.c",
		"truncated":        good[:len(good)-4],
	}
	for name, tok := range cases {
		if _, err := tk.Verify(tok); err != ErrTokenInvalid {
			t.Errorf("%s: got %v, want ErrTokenInvalid", name, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	tk := testTokens(f)
	good, _, _ := tk.Issue(uuid.New())
	f.Add(good)
	f.Add("")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(strings.Repeat("a.", 1000))
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := tk.Verify(tok)
		if err == nil && tok != good {
			// Anything else that verifies must be a real token from our key.
			if id == uuid.Nil {
				t.Fatalf("verified with a nil user: %q", tok)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	tk := testTokens(b)
	tok, _, _ := tk.Issue(uuid.New())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
