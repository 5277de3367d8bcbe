package kube

import (
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"studio/containers"
)

// Terminal starts a login shell on a TTY in the dev server's container
// through the exec subresource, as the container's own user (the project
// user). ctx bounds the shell's life.
func (k *Kube) Terminal(ctx context.Context, projectID string, size containers.TermSize) (containers.Terminal, error) {
	ns, err := namespaceOf(projectID)
	if err != nil {
		return nil, err
	}
	pod := k.runningPod(ns)
	if pod == nil {
		if st, err := k.Status(ctx, projectID); err == nil && st.State == containers.StateMissing {
			return nil, fmt.Errorf("terminal in project %s: %w", projectID, containers.ErrNotFound)
		}
		return nil, fmt.Errorf("terminal in project %s: %w", projectID, containers.ErrNotRunning)
	}
	argv, env := containers.TerminalCommand()
	req := k.api.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(ns).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: devServer,
			Command:   append(append([]string{"env"}, env...), argv...),
			Stdin:     true,
			Stdout:    true,
			TTY:       true,
		}, scheme.ParameterCodec)
	executor, err := k.executor(req.URL())
	if err != nil {
		return nil, fmt.Errorf("terminal in project %s: %w", projectID, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	sizes := newSizeQueue(size)
	go func() {
		err := executor.StreamWithContext(ctx, remotecommand.StreamOptions{
			Stdin: inR, Stdout: outW, Tty: true, TerminalSizeQueue: sizes,
		})
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("terminal in project %s: %w", projectID, apiErr(err))
		}
		outW.CloseWithError(err) // nil: the reader sees io.EOF
		sizes.close()
	}()
	resize := func(_ context.Context, s containers.TermSize) error { sizes.push(s); return nil }
	detach := func() error {
		cancel()
		_ = inW.Close()
		return outR.Close()
	}
	hangup := func(pid int) {
		hctx, done := context.WithTimeout(context.Background(), containers.HangupTimeout)
		defer done()
		_, _ = k.Exec(hctx, projectID, containers.HangupArgv(pid), containers.HangupTimeout, 0)
	}
	t, err := containers.NewShellTerminal(outR, inW, resize, detach, hangup)
	if err != nil {
		return nil, fmt.Errorf("terminal in project %s: %w", projectID, err)
	}
	return t, nil
}

// sizeQueue hands the executor the terminal's sizes; only the latest one
// not yet sent matters.
type sizeQueue struct {
	next chan containers.TermSize
	done chan struct{}
}

func newSizeQueue(first containers.TermSize) *sizeQueue {
	q := &sizeQueue{next: make(chan containers.TermSize, 1), done: make(chan struct{})}
	if first.Cols > 0 && first.Rows > 0 {
		q.next <- first
	}
	return q
}

func (q *sizeQueue) push(s containers.TermSize) {
	for {
		select {
		case q.next <- s:
			return
		case <-q.done:
			return
		default:
			select { // drop the size not sent yet
			case <-q.next:
			default:
			}
		}
	}
}

func (q *sizeQueue) close() {
	select {
	case <-q.done:
	default:
		close(q.done)
	}
}

// Next blocks until the terminal is resized; nil ends the queue.
func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.next:
		return &remotecommand.TerminalSize{Width: s.Cols, Height: s.Rows}
	case <-q.done:
		return nil
	}
}
