package containers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Logs streams the dev server's output as plain text.
func (d *Docker) Logs(ctx context.Context, projectID string, tail int, follow bool) (io.ReadCloser, error) {
	name, err := containerName(projectID)
	if err != nil {
		return nil, err
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Tail: "all"}
	if tail > 0 {
		opts.Tail = strconv.Itoa(tail)
	}
	raw, err := d.cli(ctx).ContainerLogs(ctx, name, opts)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("logs of project %s: %w", projectID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("logs of project %s: %w", projectID, engineErr(err))
	}

	// The engine multiplexes stdout and stderr into one framed stream; the
	// copier ends when the stream does, or when the caller closes the reader
	// (which closes the stream under it).
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, raw)
		pw.CloseWithError(err)
	}()
	return &logReader{PipeReader: pr, raw: raw}, nil
}

type logReader struct {
	*io.PipeReader
	raw io.Closer
}

func (r *logReader) Close() error {
	err := r.raw.Close()
	return errors.Join(err, r.PipeReader.Close())
}

// logTail returns the last n lines the container printed, or nothing when
// they cannot be read; it only ever adds detail to another message.
func (d *Docker) logTail(ctx context.Context, projectID string, n int) []string {
	r, err := d.Logs(ctx, projectID, n, false)
	if err != nil {
		return nil
	}
	defer r.Close()
	return Lines(r)
}

// Lines reads r to its end and returns its non-blank lines.
func Lines(r io.Reader) []string {
	var lines []string
	s := bufio.NewScanner(r)
	for s.Scan() {
		if line := strings.TrimRight(s.Text(), "\r"); strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	return lines
}
