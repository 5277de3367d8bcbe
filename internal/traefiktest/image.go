package traefiktest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"studio/internal/repo"
)

// Version is the Traefik release the image is built from; the script's
// STUDIO_TRAEFIK_VERSION must agree when set.
const Version = "v3.7.13"

// Image is the reference scripts/traefik-binary tags its image with.
func Image() string {
	v := os.Getenv("STUDIO_TRAEFIK_VERSION")
	if v == "" {
		v = Version
	}
	return "studio-test-traefik:" + v
}

// ensureImage runs scripts/traefik-binary, which builds the binary and the
// image once and afterwards returns at once.
func ensureImage() (string, error) {
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "traefik-binary"))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/traefik-binary: %w: %s", err, lastLines(stderr.String(), 20))
	}
	return Image(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
