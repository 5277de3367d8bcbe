package containers

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// Prioritizer lowers a container's share of the CPU below that of the
// projects people use, and gives it back: the warm pool starts its
// containers low and raises each as a project claims it.
type Prioritizer interface {
	SetLowPriority(ctx context.Context, projectID string, low bool) error
}

// CPU shares: the engine's default, and a sixteenth of it for work that
// may wait (cgroup v2 turns them into cpu.weight 100 and 7).
const (
	normalCPUShares = 1024
	lowCPUShares    = 64
)

// SetLowPriority changes the container's CPU shares in place; nothing else
// of its configuration moves, so Ensure still finds it current.
func (d *Docker) SetLowPriority(ctx context.Context, projectID string, low bool) error {
	name, err := containerName(projectID)
	if err != nil {
		return err
	}
	shares := int64(normalCPUShares)
	if low {
		shares = lowCPUShares
	}
	_, err = d.cli(ctx).ContainerUpdate(ctx, name, container.UpdateConfig{Resources: container.Resources{CPUShares: shares}})
	if cerrdefs.IsNotFound(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("set the CPU priority of project %s: %w", projectID, engineErr(err))
	}
	return nil
}
