package auth

import (
	"errors"
	"golang.org/x/crypto/bcrypt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

func TestRotationKeepsOldKeysOpening(t *testing.T) {
	dir := t.TempDir()
	ring, _ := LoadKeyring("", "", dir)
	old, _ := ring.Seal([]byte("v"), nil)
	oldID := ring.Current().ID
	k, err := ring.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if k.ID == oldID || ring.Current().ID != k.ID {
		t.Fatal("rotation did not make a new current key")
	}
	if got, err := ring.Open(old, nil); err != nil || string(got) != "v" {
		t.Fatalf("old value after rotation: %q %v", got, err)
	}
	// Another replica that still has the old ring finds the new key by rereading the file.
	stale := &Keyring{file: filepath.Join(dir, KeyFile), keys: []Key{{ID: oldID}}}
	fresh, _ := ring.Seal([]byte("w"), nil)
	if got, err := stale.Open(fresh, nil); err != nil || string(got) != "w" {
		t.Fatalf("stale replica opening a new value: %q %v", got, err)
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
	if _, err := after.Rotate(); err == nil {
		t.Fatal("Rotate with STUDIO_SECRET_KEY should explain the variables instead")
	}
}

func TestDamagedKeyFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("not base64 at all!\n"), 0o600)
	if _, err := LoadKeyring("", "", dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged key file: %v", err)
	}
}

func TestStoredPasswordsUseCost12(t *testing.T) {
	if DefaultPasswordCost != 12 {
		t.Fatalf("bcrypt cost %d, want 12", DefaultPasswordCost)
	}
	saved := PasswordCost
	PasswordCost = DefaultPasswordCost
	defer func() { PasswordCost = saved }()
	h, err := HashPassword("a long password")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != 12 {
		t.Fatalf("hash cost %d", cost)
	}
}
