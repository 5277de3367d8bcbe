package auth

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// KeyFile is the generated keyring inside the data folder, used when
// STUDIO_SECRET_KEY is not set.
const KeyFile = "secret.keys"

// ErrSealed means a sealed secret could not be opened: it was tampered
// with, belongs to another record, or its key is gone.
var ErrSealed = errors.New("the stored secret cannot be decrypted")

// Key is one secret key and the id stored beside everything it protects.
type Key struct {
	ID     string
	Secret []byte
}

func newKey(secret []byte) Key {
	sum := sha256.Sum256(append([]byte("studio key id\x00"), secret...))
	return Key{ID: hex.EncodeToString(sum[:4]), Secret: secret}
}

// derive makes an independent sub-key for one purpose, so the token
// signer, the cookie signer and the secret sealer never share a key.
func (k Key) derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.Secret, nil, "studio "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce
	}
	return out
}

// Keyring holds the current key, which signs and seals, and older keys that
// still verify and open what was made before a rotation.
type Keyring struct {
	mu   sync.RWMutex
	keys []Key  // keys[0] is current
	file string // the key file this ring was read from, if any
}

// LoadKeyring builds the ring from STUDIO_SECRET_KEY (and, during a
// rotation, STUDIO_PREVIOUS_SECRET_KEYS, comma-separated), or else from the
// key file in dataDir, generating it on first use.
func LoadKeyring(secret, previous, dataDir string) (*Keyring, error) {
	if secret != "" {
		ring := &Keyring{keys: []Key{newKey([]byte(secret))}}
		for _, p := range strings.Split(previous, ",") {
			if p = strings.TrimSpace(p); p != "" {
				ring.keys = append(ring.keys, newKey([]byte(p)))
			}
		}
		return ring, nil
	}
	ring := &Keyring{file: filepath.Join(dataDir, KeyFile)}
	if err := ring.reload(); err == nil {
		return ring, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := ring.write([]Key{generateKey()}); err != nil {
		return nil, err
	}
	return ring, ring.reload()
}

func generateKey() Key {
	secret := make([]byte, 32)
	rand.Read(secret)
	return newKey(secret)
}

func (r *Keyring) reload() error {
	b, err := os.ReadFile(r.file)
	if err != nil {
		return err
	}
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		secret, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(secret) < 32 {
			return fmt.Errorf("the key file %s is damaged; restore it from a backup", r.file)
		}
		keys = append(keys, newKey(secret))
	}
	if len(keys) == 0 {
		return fmt.Errorf("the key file %s holds no key; restore it from a backup", r.file)
	}
	r.mu.Lock()
	r.keys = keys
	r.mu.Unlock()
	return nil
}

func (r *Keyring) write(keys []Key) error {
	var b strings.Builder
	b.WriteString("# Studio's secret keys, newest first. Keep this file private and backed up:\n")
	b.WriteString("# without it, stored provider keys cannot be decrypted.\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k.Secret) + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(r.file), 0o755); err != nil {
		return err
	}
	tmp := r.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return os.Rename(tmp, r.file)
}

// Rotate makes a new current key. With a key file, the new key is written
// ahead of the current one and anything older is dropped (it was re-sealed
// by the previous rotation). With STUDIO_SECRET_KEY, the operator changes
// the variables instead, so Rotate reports that.
func (r *Keyring) Rotate() (Key, error) {
	if r.file == "" {
		return Key{}, errors.New("the key comes from STUDIO_SECRET_KEY: set the new key there and the old one in STUDIO_PREVIOUS_SECRET_KEYS, then run rotate-key again to re-seal")
	}
	k := generateKey()
	if err := r.write([]Key{k, r.Current()}); err != nil {
		return Key{}, err
	}
	return k, r.reload()
}

// FromFile reports whether the ring lives in the generated key file.
func (r *Keyring) FromFile() bool { return r.file != "" }

// Current is the key that signs and seals.
func (r *Keyring) Current() Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[0]
}

// Find returns the key with that id, rereading the key file once in case
// another replica rotated it.
func (r *Keyring) Find(id string) (Key, bool) {
	if k, ok := r.find(id); ok || r.file == "" {
		return k, ok
	}
	if r.reload() != nil {
		return Key{}, false
	}
	return r.find(id)
}

func (r *Keyring) find(id string) (Key, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys {
		if k.ID == id {
			return k, true
		}
	}
	return Key{}, false
}

// All returns every key, current first.
func (r *Keyring) All() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]Key(nil), r.keys...)
}

// Seal encrypts plaintext with AES-256-GCM under the current key. The
// result carries the key id; aad binds it to its record (e.g. owner and
// provider), so a ciphertext moved to another row does not open.
// Layout: "v1." + key id + "." + base64(nonce || ciphertext || tag).
func (r *Keyring) Seal(plaintext, aad []byte) (string, error) {
	k := r.Current()
	aead, err := sealer(k)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := aead.Seal(nonce, nonce, plaintext, aad)
	return "v1." + k.ID + "." + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal made, with whichever key sealed it.
func (r *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return nil, ErrSealed
	}
	k, ok := r.Find(parts[1])
	if !ok {
		return nil, fmt.Errorf("%w: key %s is not in the keyring", ErrSealed, parts[1])
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, ErrSealed
	}
	aead, err := sealer(k)
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrSealed
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// SealedWith returns the id of the key that sealed a value.
func SealedWith(sealed string) string {
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}

func sealer(k Key) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.derive("seal v1"))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// CookieKey is the key that signs browser cookies under k.
func CookieKey(k Key) []byte { return k.derive("cookie v1") }

// PreviewKey is the key that signs preview links and cookies under k.
func PreviewKey(k Key) []byte { return k.derive("preview v1") }
