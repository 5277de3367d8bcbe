package auth

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

func TestKeyFileIsGeneratedPrivateAndStable(t *testing.T) {
	dir := t.TempDir()
	ring, err := LoadKeyring("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 600", fi.Mode().Perm())
	}
	again, err := LoadKeyring("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Current().ID != ring.Current().ID {
		t.Fatal("a second load made a different key")
	}
}

func TestSealOpenAndTampering(t *testing.T) {
	ring, _ := LoadKeyring(strings.Repeat("k", 32), "", "")
	aad := []byte("user-1/openai")
	sealed, err := ring.Seal([]byte("sk-secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "sk-secret") {
		t.Fatal("plaintext visible in the sealed value")
	}
	got, err := ring.Open(sealed, aad)
	if err != nil || string(got) != "sk-secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	// Flip one character of the ciphertext.
	b := []byte(sealed)
	i := len(b) - 5
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	cases := map[string]struct {
		sealed string
		aad    []byte
	}{
		"tampered ciphertext":  {string(b), aad},
		"moved to another row": {sealed, []byte("user-2/openai")},
		"garbage":              {"v1.zz.!!!", aad},
		"truncated":            {sealed[:12], aad},
		"unknown version":      {"v9" + sealed[2:], aad},
	}
	for name, c := range cases {
		if _, err := ring.Open(c.sealed, c.aad); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: got %v, want ErrSealed", name, err)
		}
	}
}

func TestRotationKeepsEveryKeyOpening(t *testing.T) {
	dir := t.TempDir()
	ring, _ := LoadKeyring("", "", dir)
	first := ring.Current()
	old, _ := ring.Seal([]byte("v"), nil)
	next, err := ring.BeginRotation()
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == first.ID || ring.Current().ID != first.ID {
		t.Fatal("beginning a rotation must add a next key without making it current")
	}
	resealed, _ := SealWith(next, []byte("v"), nil)
	if again, _ := ring.BeginRotation(); again.ID != next.ID {
		t.Fatal("a second begin must resume the unfinished rotation, not add another key")
	}
	if err := ring.FinishRotation(next); err != nil {
		t.Fatal(err)
	}
	if ring.Current().ID != next.ID {
		t.Fatal("finishing did not make the next key current")
	}
	second, _ := ring.BeginRotation()
	ring.FinishRotation(second)
	fresh, err := LoadKeyring("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(fresh.All()); got != 3 {
		t.Fatalf("%d keys in the file after two rotations, want all 3", got)
	}
	for name, v := range map[string]string{"sealed before": old, "re-sealed": resealed} {
		if got, err := fresh.Open(v, nil); err != nil || string(got) != "v" {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
}

// A running server learns a rotation made elsewhere: the next key as soon
// as it meets a value sealed with it, the new current key within
// KeyReloadInterval.
func TestRunningServerLearnsOfRotation(t *testing.T) {
	dir := t.TempDir()
	server, _ := LoadKeyring("", "", dir)
	clock := time.Now()
	server.now = func() time.Time { return clock }
	first := server.Current().ID
	admin, _ := LoadKeyring("", "", dir)
	next, _ := admin.BeginRotation()
	sealed, _ := SealWith(next, []byte("w"), nil)
	clock = clock.Add(KeyReloadInterval)
	if got, err := server.Open(sealed, nil); err != nil || string(got) != "w" {
		t.Fatalf("server opening a value sealed with the next key: %q %v", got, err)
	}
	admin.FinishRotation(next)
	if server.Current().ID != first {
		t.Fatal("the server reread the key file before the interval passed")
	}
	clock = clock.Add(KeyReloadInterval)
	if server.Current().ID != next.ID {
		t.Fatal("the server did not take the new current key after the interval")
	}
}

// Tokens and sealed values naming a key id nobody has are refused without
// reading the disk, and such requests cannot make the server read its key
// file more than once per KeyReloadInterval.
func TestUnknownKeyIDCostsNoDiskRead(t *testing.T) {
	ring, err := LoadKeyring("", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	reads := 0
	ring.now = func() time.Time { return clock }
	ring.read = func(name string) ([]byte, error) { reads++; return os.ReadFile(name) }
	stranger := generateKey()
	forged, _, _ := NewTokens(&Keyring{keys: []Key{stranger}}).Issue(uuid.New())
	sealed, _ := SealWith(stranger, []byte("x"), nil)
	tokens := NewTokens(ring)
	attack := func() {
		for range 100 {
			if _, err := tokens.Verify(forged); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("a token with an unknown key id: %v", err)
			}
			if _, err := ring.Open(sealed, nil); !errors.Is(err, ErrSealed) {
				t.Fatalf("a value with an unknown key id: %v", err)
			}
		}
	}
	attack()
	if reads != 0 {
		t.Fatalf("%d key file reads right after loading it, want 0", reads)
	}
	clock = clock.Add(KeyReloadInterval)
	attack()
	if reads != 1 {
		t.Fatalf("%d key file reads in one interval, want 1", reads)
	}
}

func TestEnvironmentKeyRotation(t *testing.T) {
	oldKey, newKey := strings.Repeat("o", 32), strings.Repeat("n", 32)
	before, _ := LoadKeyring(oldKey, "", "")
	sealed, _ := before.Seal([]byte("x"), nil)
	during, _ := LoadKeyring(newKey, oldKey, "")
	if got, err := during.Open(sealed, nil); err != nil || string(got) != "x" {
		t.Fatalf("previous key does not open: %v", err)
	}
	after, _ := LoadKeyring(newKey, "", "")
	if _, err := after.Open(sealed, nil); !errors.Is(err, ErrSealed) {
		t.Fatalf("a value under a dropped key opened: %v", err)
	}
	if _, err := after.BeginRotation(); !errors.Is(err, ErrKeyFromEnvironment) {
		t.Fatalf("a rotation with STUDIO_SECRET_KEY should explain the variables instead: %v", err)
	}
}

func TestDamagedKeyFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("not base64 at all!\n"), 0o600)
	if _, err := LoadKeyring("", "", dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged key file: %v", err)
	}
	k, n := base64.StdEncoding.EncodeToString(generateKey().Secret), base64.StdEncoding.EncodeToString(generateKey().Secret)
	os.WriteFile(filepath.Join(dir, KeyFile), []byte(k+"\nnext "+n+"\nnext "+n+"\n"), 0o600)
	if _, err := LoadKeyring("", "", dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("two next keys: %v", err)
	}
}

func TestStoredPasswordsUseCost12(t *testing.T) {
	if DefaultPasswordCost != 12 {
		t.Fatalf("bcrypt cost %d, want 12", DefaultPasswordCost)
	}
	for name, hash := range map[string]func(string) (string, error){
		"HashPassword": HashPassword,
		"the service":  NewService(nil, nil, "open", nil).hash,
	} {
		h, err := hash("a long password")
		if err != nil {
			t.Fatal(err)
		}
		if cost, _ := bcrypt.Cost([]byte(h)); cost != 12 {
			t.Fatalf("%s: hash cost %d", name, cost)
		}
	}
}
