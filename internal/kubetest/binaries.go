package kubetest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// kubeBinaries runs scripts/kube-binaries, which builds the Kubernetes
// binaries once and afterwards only prints the folder that holds them.
func kubeBinaries(root string) (string, error) {
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "kube-binaries"))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/kube-binaries: %w: %s", err, lastLines(stderr.String(), 20))
	}
	return strings.TrimSpace(string(out)), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
