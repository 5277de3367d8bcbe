package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// readyProbe is the HTTP client WaitReady polls with. Keep-alives are off:
// until the dev server listens, the engine's port proxy accepts connections
// and drops them, and a pooled dead connection would only add a retry.
var readyProbe = &http.Client{
	Timeout:   15 * time.Second, // a first transform can be slow on a busy machine
	Transport: &http.Transport{DisableKeepAlives: true},
}

// WaitReady polls http://<endpoint><path> until it answers 200.
func (d *Docker) WaitReady(ctx context.Context, projectID, path string, progress func(string)) (string, error) {
	endpoint, err := d.Endpoint(ctx, projectID)
	if errors.Is(err, ErrNotRunning) {
		if exited := d.checkRunning(ctx, projectID); exited != nil {
			return "", exited
		}
	}
	if err != nil {
		return "", err
	}
	gone := func() error { return d.checkRunning(ctx, projectID) }
	if d.opts.Traefik != nil {
		// Traefik reaches the dev server, and studio may itself run in a
		// container, where the port published on the host's loopback is
		// out of reach: ask from inside the project's container.
		probe := func(ctx context.Context) (int, error) { return d.probeInside(ctx, projectID, path) }
		return endpoint, pollReady(ctx, projectID, "port 5173 inside its container", probe, insideInterval, progress, gone)
	}
	return endpoint, PollReady(ctx, projectID, endpoint, path, progress, gone)
}

// insideInterval: each probe from inside a container is an exec, which
// costs the engine far more than a loopback connection.
const insideInterval = 150 * time.Millisecond

// probeInside asks the dev server for path over the container's own
// loopback, with bash's /dev/tcp (the runtime image has no HTTP client
// but Node.js, which takes longer to start than the answer takes), and
// returns the status code (0 when nothing listens yet).
func (d *Docker) probeInside(ctx context.Context, projectID, path string) (int, error) {
	const script = `exec 3<>/dev/tcp/127.0.0.1/5173 || exit 7
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
read -r _ status _ <&3
echo "$status"`
	res, err := d.Exec(ctx, projectID, []string{"bash", "-c", script, "probe", path}, readyProbe.Timeout, 64)
	if err != nil || res.ExitCode != 0 {
		return 0, err
	}
	status, err := strconv.Atoi(strings.TrimSpace(res.Output))
	if err != nil {
		return 0, fmt.Errorf("the dev server answered %q", res.Output)
	}
	return status, nil
}

// PollReady polls http://<endpoint><path> until it answers 200, reporting
// each new status to progress (which may be nil). While nothing answers it
// asks gone, at most four times a second, whether the dev server has
// stopped for good, and returns gone's error at once: a dev server that
// crashed will never answer, so say why now rather than at the deadline.
func PollReady(ctx context.Context, projectID, endpoint, path string, progress func(string), gone func() error) error {
	url := "http://" + endpoint + path
	return pollReady(ctx, projectID, url, func(ctx context.Context) (int, error) { return probe(ctx, url) }, 0, progress, gone)
}

// pollReady is PollReady with its own probe of the dev server (at target),
// at least minInterval apart.
func pollReady(ctx context.Context, projectID, target string, probe func(context.Context) (int, error), minInterval time.Duration, progress func(string), gone func() error) error {
	if progress == nil {
		progress = func(string) {}
	}
	progress("waiting for the dev server")

	started, lastCheck := time.Now(), time.Now()
	lastStatus := 0
	for {
		status, err := probe(ctx)
		switch {
		case status == http.StatusOK:
			return nil
		case status != 0 && status != lastStatus:
			lastStatus = status
			progress(fmt.Sprintf("dev server answered %d %s", status, http.StatusText(status)))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("dev server of project %s not ready at %s (last: %s): %w", projectID, target, describe(status, err), ctx.Err())
		}
		if status == 0 && time.Since(lastCheck) > 250*time.Millisecond {
			lastCheck = time.Now()
			if err := gone(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(max(minInterval, pollInterval(time.Since(started)))):
		}
	}
}

// pollInterval keeps polling tight while a dev server normally comes up —
// until it listens, each probe is one loopback connection that the engine's
// port proxy drops at once — and backs off for one that takes its time.
func pollInterval(waited time.Duration) time.Duration {
	if waited < 5*time.Second {
		return 25 * time.Millisecond
	}
	return 200 * time.Millisecond
}

func probe(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := readyProbe.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func describe(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d", status)
}

// checkRunning returns an *ExitError when the project's container ran and
// has stopped, and ErrNotFound when it is gone; nil otherwise, including
// when the engine cannot tell right now.
func (d *Docker) checkRunning(ctx context.Context, projectID string) error {
	c, err := d.inspect(ctx, projectID)
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil || c.State == nil || c.State.Running || c.State.Status == "created" {
		return nil
	}
	return &ExitError{Exit: d.exitOf(ctx, projectID, c.ID, time.Now())}
}
