package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	return endpoint, PollReady(ctx, projectID, endpoint, path, progress, func() error { return d.checkRunning(ctx, projectID) })
}

// PollReady polls http://<endpoint><path> until it answers 200, reporting
// each new status to progress (which may be nil). While nothing answers it
// asks gone, at most four times a second, whether the dev server has
// stopped for good, and returns gone's error at once: a dev server that
// crashed will never answer, so say why now rather than at the deadline.
func PollReady(ctx context.Context, projectID, endpoint, path string, progress func(string), gone func() error) error {
	if progress == nil {
		progress = func(string) {}
	}
	url := "http://" + endpoint + path
	progress("waiting for the dev server")

	started, lastCheck := time.Now(), time.Now()
	lastStatus := 0
	for {
		status, err := probe(ctx, url)
		switch {
		case status == http.StatusOK:
			return nil
		case status != 0 && status != lastStatus:
			lastStatus = status
			progress(fmt.Sprintf("dev server answered %d %s", status, http.StatusText(status)))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("dev server of project %s not ready at %s (last: %s): %w", projectID, url, describe(status, err), ctx.Err())
		}
		if status == 0 && time.Since(lastCheck) > 250*time.Millisecond {
			lastCheck = time.Now()
			if err := gone(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollInterval(time.Since(started))):
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
