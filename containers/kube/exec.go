package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/exec"
	"k8s.io/utils/ptr"

	"studio/containers"
)

// Logs streams the dev server's output from the pod log API.
func (k *Kube) Logs(ctx context.Context, projectID string, tail int, follow bool) (io.ReadCloser, error) {
	ns, err := namespaceOf(projectID)
	if err != nil {
		return nil, err
	}
	pod := k.newestPod(ns)
	if pod == nil {
		return nil, fmt.Errorf("logs of project %s: %w", projectID, containers.ErrNotRunning)
	}
	opts := &corev1.PodLogOptions{Container: devServer, Follow: follow}
	if tail > 0 {
		opts.TailLines = ptr.To(int64(tail))
	}
	r, err := k.streams.CoreV1().Pods(ns).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("logs of project %s: %w", projectID, apiErr(err))
	}
	return r, nil
}

// newestPod is the project's most recently created pod.
func (k *Kube) newestPod(ns string) *corev1.Pod {
	var newest *corev1.Pod
	for _, pod := range k.podsOf(ns) {
		if newest == nil || pod.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = pod
		}
	}
	return newest
}

// Exec runs argv in the dev server's container through the exec
// subresource, as the container's own user in /app, under timeout(1) as
// on Docker.
func (k *Kube) Exec(ctx context.Context, projectID string, argv []string, timeout time.Duration, outputCap int) (containers.ExecResult, error) {
	if outputCap <= 0 {
		outputCap = containers.DefaultOutputCap
	}
	out := &containers.CappedBuffer{Limit: outputCap}
	res, err := k.ExecStream(ctx, projectID, argv, timeout, out)
	res.Output, res.Truncated = out.String(), out.Truncated
	return res, err
}

// ExecStream is Exec with the output written to out as it comes.
func (k *Kube) ExecStream(ctx context.Context, projectID string, argv []string, timeout time.Duration, out io.Writer) (containers.ExecResult, error) {
	if len(argv) == 0 {
		return containers.ExecResult{}, errors.New("exec: empty command")
	}
	ns, err := namespaceOf(projectID)
	if err != nil {
		return containers.ExecResult{}, err
	}
	pod := k.runningPod(ns)
	if pod == nil {
		if st, err := k.Status(ctx, projectID); err == nil && st.State == containers.StateMissing {
			return containers.ExecResult{}, fmt.Errorf("exec in project %s: %w", projectID, containers.ErrNotFound)
		}
		return containers.ExecResult{}, fmt.Errorf("exec in project %s: %w", projectID, containers.ErrNotRunning)
	}
	req := k.api.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(ns).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: devServer,
			Command:   containers.TimeoutArgv(argv, timeout),
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	executor, err := k.executor(req.URL())
	if err != nil {
		return containers.ExecResult{}, fmt.Errorf("exec in project %s: %w", projectID, err)
	}
	start := time.Now()
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: out, Stderr: out})
	res := containers.ExecResult{Duration: time.Since(start)}
	var exited exec.ExitError
	switch {
	case ctx.Err() != nil:
		return containers.ExecResult{}, fmt.Errorf("exec in project %s: %w", projectID, ctx.Err())
	case errors.As(err, &exited):
		res.ExitCode = exited.ExitStatus()
	case err != nil:
		return containers.ExecResult{}, fmt.Errorf("exec in project %s: %w", projectID, apiErr(err))
	}
	res.TimedOut = containers.TimedOut(timeout, res.ExitCode, res.Duration)
	return res, nil
}

// executor speaks the websocket exec protocol, falling back to SPDY for an
// API server too old for it.
func (k *Kube) executor(u *url.URL) (remotecommand.Executor, error) {
	ws, err := remotecommand.NewWebSocketExecutor(k.rest, "GET", u.String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(k.rest, "POST", u)
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}
