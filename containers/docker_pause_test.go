package containers

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestPauseUnpauseAndStop(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, _, endpoint := startProject(t, d, "static", "/")
	ctx := testContext(t)

	if err := d.Pause(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if err := d.Pause(ctx, projectID); err != nil {
		t.Fatalf("pausing a paused container: %v", err)
	}
	st, err := d.Status(ctx, projectID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Paused || st.State != StateRunning || st.Endpoint != endpoint {
		t.Fatalf("status of a paused container: %+v, want paused, running at %s", st, endpoint)
	}
	managed, err := d.ListManaged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(managed) != 1 || !managed[0].Paused || managed[0].State != StateRunning {
		t.Fatalf("ListManaged: %+v, want one paused running container", managed)
	}
	// Frozen: the dev server does not answer.
	client := &http.Client{Timeout: 500 * time.Millisecond}
	if res, err := client.Get("http://" + endpoint + "/"); err == nil {
		res.Body.Close()
		t.Fatalf("a paused dev server answered %d", res.StatusCode)
	}

	if err := d.Unpause(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if err := d.Unpause(ctx, projectID); err != nil {
		t.Fatalf("unpausing a running container: %v", err)
	}
	if code, _, _ := get(t, "http://"+endpoint+"/", ""); code != http.StatusOK {
		t.Fatalf("after unpause: %d", code)
	}
	if st, _ := d.Status(ctx, projectID); st.Paused {
		t.Fatalf("still paused: %+v", st)
	}

	// Stopping a paused container stops it, and in its grace period.
	if err := d.Pause(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := d.Stop(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	st, err = d.Status(ctx, projectID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateStopped || st.Paused {
		t.Fatalf("after stopping a paused container: %+v", st)
	}
	t.Logf("stopped a paused container in %s", time.Since(started))
	if err := d.Pause(ctx, projectID); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("pausing a stopped container: %v, want ErrNotRunning", err)
	}
	if err := d.Unpause(ctx, projectID); err != nil {
		t.Fatalf("unpausing a stopped container: %v", err)
	}
}

func TestRemovePausedContainer(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, _, _ := startProject(t, d, "static", "/")
	ctx := testContext(t)
	if err := d.Pause(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Status(ctx, projectID); err != nil || st.State != StateMissing {
		t.Fatalf("after removing a paused container: %+v, %v", st, err)
	}
	if err := d.Unpause(ctx, projectID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unpausing a removed container: %v, want ErrNotFound", err)
	}
}
