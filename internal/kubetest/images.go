package kubetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// buildImage compiles the static Go program in ./<program> (relative to
// this package) and writes a one-layer image archive of it, named ref, in
// the docker-archive format `ctr images import` reads. It returns the
// archive's path.
func buildImage(root, dir, program, ref string) (string, error) {
	binary := filepath.Join(dir, "images", program)
	cmd := exec.Command("go", "build", "-trimpath", "-o", binary, "./internal/kubetest/"+program)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w: %s", program, err, out)
	}
	archive := binary + ".tar"
	if err := writeImageArchive(archive, binary, ref); err != nil {
		return "", fmt.Errorf("write image %s: %w", ref, err)
	}
	return archive, nil
}

// writeImageArchive writes a docker-archive holding one layer with binary
// at /<name of binary>, which is also the image's entrypoint.
func writeImageArchive(archive, binary, ref string) error {
	name := filepath.Base(binary)
	layer, err := layerTar(binary, name)
	if err != nil {
		return err
	}
	layerDigest := sha256Hex(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string{"/" + name}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerDigest}},
	})
	if err != nil {
		return err
	}
	configName := sha256Hex(config) + ".json"
	layerName := layerDigest + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{ref}, "Layers": []string{layerName},
	}})
	if err != nil {
		return err
	}
	return writeTar(archive, []tarFile{
		{configName, config, 0o644},
		{layerName, layer, 0o644},
		{"manifest.json", manifest, 0o644},
	})
}

// layerTar is a layer holding the file at path as /name.
func layerTar(path, name string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tarTo(&buf, []tarFile{{name, data, 0o755}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type tarFile struct {
	name string
	data []byte
	mode int64
}

func writeTar(path string, files []tarFile) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := tarTo(f, files); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func tarTo(w io.Writer, files []tarFile) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)),
			Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// importArchive loads an image archive into containerd's k8s.io namespace,
// where the CRI plugin (and so the kubelet) finds it.
func (n *node) importArchive(archive string) error {
	return run("ctr", "--address", n.socket, "-n", "k8s.io", "images", "import", archive)
}

// importDockerImage copies ref from the local dockerd into the node.
func (n *node) importDockerImage(ref string) error {
	archive := filepath.Join(n.dir, "images", "docker-"+sha256Hex([]byte(ref))[:12]+".tar")
	if err := run("docker", "save", "-o", archive, ref); err != nil {
		return err
	}
	defer os.Remove(archive)
	return n.importArchive(archive)
}
