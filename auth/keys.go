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
	"time"
)

// KeyFile is the generated keyring inside the data folder, used when
// STUDIO_SECRET_KEY is not set.
const KeyFile = "secret.keys"

// KeyReloadInterval is the least time between two reads of the key file
// by a running server: often enough to learn of a rotation soon, rare
// enough that requests naming unknown key ids cannot make it read the
// disk at will.
const KeyReloadInterval = 30 * time.Second

// nextKeyPrefix marks the key a rotation in progress seals with; it opens
// values but does not yet sign or seal anything new.
const nextKeyPrefix = "next "

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

// Keyring holds the current key, which signs and seals, the next key of a
// rotation in progress, and older keys that still verify and open what was
// made before a rotation.
type Keyring struct {
	mu   sync.RWMutex
	keys []Key // keys[0] is current; the rest only verify and open
	next *Key  // the key a rotation in progress re-seals with

	file     string // the key file this ring was read from, if any
	read     func(name string) ([]byte, error)
	now      func() time.Time
	readMu   sync.Mutex
	lastRead time.Time
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
	ring := &Keyring{file: filepath.Join(dataDir, KeyFile), read: os.ReadFile, now: time.Now}
	if err := ring.reload(); err == nil {
		return ring, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := ring.write([]Key{generateKey()}, nil); err != nil {
		return nil, err
	}
	return ring, ring.reload()
}

func generateKey() Key {
	secret := make([]byte, 32)
	rand.Read(secret)
	return newKey(secret)
}

// reload reads the key file now.
func (r *Keyring) reload() error {
	r.readMu.Lock()
	r.lastRead = r.now()
	r.readMu.Unlock()
	return r.load()
}

func (r *Keyring) load() error {
	b, err := r.read(r.file)
	if err != nil {
		return err
	}
	keys, next, err := parseKeyFile(b)
	if err != nil {
		return fmt.Errorf("the key file %s %w; restore it from a backup", r.file, err)
	}
	r.mu.Lock()
	r.keys, r.next = keys, next
	r.mu.Unlock()
	return nil
}

// refresh rereads the key file if the last read is KeyReloadInterval old,
// so a running server learns of a rotation made by `studio admin
// rotate-key` or another replica. A file that fails to read leaves the
// keys in memory as they are.
func (r *Keyring) refresh() {
	if r.file == "" {
		return
	}
	r.readMu.Lock()
	now := r.now()
	due := now.Sub(r.lastRead) >= KeyReloadInterval
	if due {
		r.lastRead = now // one read per interval, however many ask at once
	}
	r.readMu.Unlock()
	if due {
		_ = r.load()
	}
}

// parseKeyFile reads one base64 key a line, current first; a line marked
// "next " holds the key of a rotation in progress.
func parseKeyFile(b []byte) (keys []Key, next *Key, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		encoded, isNext := strings.CutPrefix(line, nextKeyPrefix)
		secret, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(secret) < 32 || isNext && next != nil {
			return nil, nil, errors.New("is damaged")
		}
		if k := newKey(secret); isNext {
			next = &k
		} else {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil, errors.New("holds no key")
	}
	return keys, next, nil
}

func (r *Keyring) write(keys []Key, next *Key) error {
	var b strings.Builder
	b.WriteString("# Studio's secret keys, current first, then older ones. Keep this file private\n")
	b.WriteString("# and backed up: without it, stored provider keys cannot be decrypted.\n")
	b.WriteString("# A line starting with \"next \" is the key of an unfinished rotation.\n")
	for i, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k.Secret) + "\n")
		if i == 0 && next != nil {
			b.WriteString(nextKeyPrefix + base64.StdEncoding.EncodeToString(next.Secret) + "\n")
		}
	}
	if err := os.MkdirAll(filepath.Dir(r.file), 0o755); err != nil {
		return err
	}
	tmp := r.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp, r.file); err != nil {
		return fmt.Errorf("replace key file: %w", err)
	}
	return nil
}

// ErrKeyFromEnvironment: rotation with STUDIO_SECRET_KEY is the operator's.
var ErrKeyFromEnvironment = errors.New("the key comes from STUDIO_SECRET_KEY: set the new key there and the old one in STUDIO_PREVIOUS_SECRET_KEYS, then run rotate-key again to re-seal")

// BeginRotation adds a next key to the key file, keeping every key it
// holds, and returns it; values re-sealed with it open wherever the file
// is read. If an earlier rotation stopped before it finished, its next key
// is returned instead, so running rotate-key again resumes it.
func (r *Keyring) BeginRotation() (Key, error) {
	if r.file == "" {
		return Key{}, ErrKeyFromEnvironment
	}
	if err := r.reload(); err != nil {
		return Key{}, err
	}
	r.mu.RLock()
	keys, next := r.keys, r.next
	r.mu.RUnlock()
	if next != nil {
		return *next, nil
	}
	k := generateKey()
	if err := r.write(keys, &k); err != nil {
		return Key{}, err
	}
	return k, r.reload()
}

// FinishRotation makes the next key current once everything is re-sealed
// with it. Every older key stays in the file: values sealed by a server
// that had not yet learnt of the rotation still open.
func (r *Keyring) FinishRotation(next Key) error {
	if err := r.reload(); err != nil {
		return err
	}
	r.mu.RLock()
	keys, pending := r.keys, r.next
	r.mu.RUnlock()
	if pending == nil || pending.ID != next.ID {
		return fmt.Errorf("the key file no longer names key %s as the next key; run rotate-key again", next.ID)
	}
	if err := r.write(append([]Key{next}, keys...), nil); err != nil {
		return err
	}
	return r.reload()
}

// FromFile reports whether the ring lives in the generated key file.
func (r *Keyring) FromFile() bool { return r.file != "" }

// Current is the key that signs and seals.
func (r *Keyring) Current() Key {
	r.refresh()
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[0]
}

// Find returns the key with that id. An unknown id rereads the key file
// only if the last read is KeyReloadInterval old (another replica or
// rotate-key may have added it), so forged ids cost no disk reads.
func (r *Keyring) Find(id string) (Key, bool) {
	if k, ok := r.find(id); ok {
		return k, true
	}
	r.refresh()
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
	if r.next != nil && r.next.ID == id {
		return *r.next, true
	}
	return Key{}, false
}

// All returns every key, current first, the next key of a rotation last.
func (r *Keyring) All() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	all := append([]Key(nil), r.keys...)
	if r.next != nil {
		all = append(all, *r.next)
	}
	return all
}

// Seal encrypts plaintext with AES-256-GCM under the current key. The
// result carries the key id; aad binds it to its record (e.g. owner and
// provider), so a ciphertext moved to another row does not open.
// Layout: "v1." + key id + "." + base64(nonce || ciphertext || tag).
func (r *Keyring) Seal(plaintext, aad []byte) (string, error) {
	return SealWith(r.Current(), plaintext, aad)
}

// SealWith seals under a given key, for re-sealing during a rotation.
func SealWith(k Key, plaintext, aad []byte) (string, error) {
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
