package containers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"studio/containers/image"
)

// ensureTimeout bounds one Ensure: a few engine calls.
const ensureTimeout = 60 * time.Second

const (
	devServerPort nat.Port = "5173/tcp"
	loopback               = "127.0.0.1"
	projectHome            = "/home/studio"
	appDir                 = "/app"
)

// Ensure creates the project's network and container if they are missing.
// Once begun it is not cut short by ctx (only bounded in time): the engine
// finishes a create whose caller went away, and a caller that was told
// "cancelled" would not know what it left behind.
func (d *Docker) Ensure(ctx context.Context, spec Spec) (Status, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ensureTimeout)
	defer cancel()
	name, err := containerName(spec.ProjectID)
	if err != nil {
		return Status{}, err
	}
	if err := CheckProjectDir(spec.Dir); err != nil {
		return Status{}, fmt.Errorf("project %s: %w", spec.ProjectID, err)
	}
	networkID, err := d.ensureNetwork(ctx, spec.ProjectID)
	if err != nil {
		return Status{}, err
	}
	if err := d.attachRouter(ctx, networkID); err != nil {
		return Status{}, fmt.Errorf("project %s: %w", spec.ProjectID, err)
	}
	config, host, net := d.containerConfig(spec, networkID)

	existing, err := d.inspect(ctx, spec.ProjectID)
	switch {
	case err == nil && existing.Config != nil && existing.Config.Labels[labelSpec] == config.Labels[labelSpec]:
		return statusOf(spec.ProjectID, existing), nil
	case err == nil:
		d.opts.Logger.InfoContext(ctx, "replacing out-of-date project container",
			"project", spec.ProjectID, "container", existing.ID, "image", d.opts.Image)
		if err := d.cli(ctx).ContainerRemove(ctx, existing.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return Status{}, fmt.Errorf("remove out-of-date container of project %s: %w", spec.ProjectID, engineErr(err))
		}
	case !errors.Is(err, ErrNotFound):
		return Status{}, err
	}

	_, err = d.cli(ctx).ContainerCreate(ctx, config, host, net, nil, name)
	switch {
	case cerrdefs.IsConflict(err):
		// Another studio replica created it a moment ago.
	case cerrdefs.IsNotFound(err) && d.imageMissing(ctx):
		return Status{}, fmt.Errorf("create container of project %s: %w", spec.ProjectID, imageMissingError{d.opts.Image})
	case err != nil:
		return Status{}, fmt.Errorf("create container of project %s: %w", spec.ProjectID, engineErr(err))
	}
	return d.Status(ctx, spec.ProjectID)
}

// CheckProjectDir catches a wrong path before the engine would: the engine
// mounts the directory as studio finds it.
func CheckProjectDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("project dir %q is not an absolute path", dir)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("project dir: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("project dir %s is not a directory", dir)
	}
	return nil
}

// FolderOwner is the user the container runs as: the owner of the project
// folder, so the dev server and the user's commands can write it whoever
// runs studio. A folder owned by root (or one that cannot be read) gives the
// image's unprivileged user instead: a project never runs as root.
func FolderOwner(dir string) (uid, gid string) {
	imageUID, imageGID := strconv.Itoa(image.ProjectUID), strconv.Itoa(image.ProjectGID)
	info, err := os.Stat(dir)
	if err != nil {
		return imageUID, imageGID
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return imageUID, imageGID
	}
	gid = strconv.FormatUint(uint64(st.Gid), 10)
	if st.Gid == 0 {
		gid = imageGID
	}
	return strconv.FormatUint(uint64(st.Uid), 10), gid
}

func (d *Docker) imageMissing(ctx context.Context) bool {
	_, err := d.cli(ctx).ImageInspect(ctx, d.opts.Image)
	return cerrdefs.IsNotFound(err)
}

// ensureNetwork returns the id of the project's own bridge network, creating
// it if needed. No other container ever joins it.
func (d *Docker) ensureNetwork(ctx context.Context, projectID string) (string, error) {
	name := networkName(projectID)
	n, err := d.cli(ctx).NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil {
		return n.ID, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect network of project %s: %w", projectID, engineErr(err))
	}
	created, err := d.cli(ctx).NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge",
		Labels: d.labels(projectID),
	})
	if err == nil {
		return created.ID, nil
	}
	if cerrdefs.IsConflict(err) { // created concurrently by another replica
		if n, ierr := d.cli(ctx).NetworkInspect(ctx, name, network.InspectOptions{}); ierr == nil {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("create network of project %s: %w", projectID, engineErr(err))
}

func (d *Docker) labels(projectID string) map[string]string {
	return map[string]string{
		labelProject:  projectID,
		labelManaged:  "true",
		labelInstance: d.opts.Instance,
	}
}

// containerConfig is the whole security posture of a project container:
// an unprivileged user with no capabilities and no way to gain any, a
// read-only root file system, bounded memory, CPU and processes, its own
// network, one published port on loopback and one bind mount.
func (d *Docker) containerConfig(spec Spec, networkID string) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	netName := networkName(spec.ProjectID)
	stopTimeout := int(d.opts.StopTimeout.Seconds())
	pids := d.opts.PidsLimit
	withInit := true
	uid, gid := FolderOwner(spec.Dir)

	config := &container.Config{
		Image:        d.opts.Image,
		User:         uid + ":" + gid,
		WorkingDir:   appDir,
		Env:          append([]string{"HOME=" + projectHome}, spec.Env...),
		ExposedPorts: nat.PortSet{devServerPort: {}},
		StopTimeout:  &stopTimeout,
		Labels:       d.labels(spec.ProjectID),
	}
	if t := d.opts.Traefik; t != nil {
		maps.Copy(config.Labels, t.Labels(spec.ProjectID, spec.Slug))
	}
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(netName),
		PortBindings:   nat.PortMap{devServerPort: {{HostIP: loopback}}},
		Mounts:         []mount.Mount{{Type: mount.TypeBind, Source: spec.Dir, Target: appDir}},
		ReadonlyRootfs: true,
		Tmpfs: map[string]string{
			"/tmp":      "rw,exec,nosuid,nodev,size=512m,mode=1777",
			projectHome: "rw,exec,nosuid,nodev,size=256m,mode=0700,uid=" + uid + ",gid=" + gid,
		},
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges"},
		IpcMode:     container.IPCModePrivate,
		// A small init reaps the zombies left by commands users run and
		// forwards SIGTERM to the dev server.
		Init:          &withInit,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		LogConfig: container.LogConfig{
			Type:   "json-file",
			Config: map[string]string{"max-size": "1m", "max-file": "2"},
		},
		Resources: container.Resources{
			Memory:     d.opts.Memory,
			MemorySwap: d.opts.Memory, // no swap on top
			NanoCPUs:   d.opts.NanoCPUs,
			PidsLimit:  &pids,
		},
	}
	net := &network.NetworkingConfig{
		EndpointsConfig: map[string]*network.EndpointSettings{netName: {NetworkID: networkID}},
	}
	config.Labels[labelSpec] = specHash(config, host, networkID)
	return config, host, net
}

// specHash fingerprints a create configuration, so Ensure can tell an
// up-to-date container from one made by an older studio or for an older
// image, or attached to a network that has since been recreated.
func specHash(config *container.Config, host *container.HostConfig, networkID string) string {
	b, _ := json.Marshal(struct {
		Config    *container.Config
		Host      *container.HostConfig
		NetworkID string
	}{config, host, networkID})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
