package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"studio/containers"
)

// exitLogLines is how much of a dead dev server's output an Exit carries.
const exitLogLines = 30

// unschedulableGrace is how long a pod may wait for a node before studio
// gives up on it: long enough for a node that is just joining, short
// enough that a person is not left with a spinner.
const unschedulableGrace = 20 * time.Second

// problem says why a project's pod cannot serve, or is nil while it can
// (or may yet). The words are for the person whose project it is.
func (k *Kube) problem(pod *corev1.Pod, now time.Time) *containers.Exit {
	exit := func(message string) *containers.Exit {
		return &containers.Exit{ProjectID: pod.Labels[labelProject], ContainerID: string(pod.UID), Message: message, At: now}
	}
	if pod.Status.Phase == corev1.PodFailed {
		reason := pod.Status.Reason
		if reason == "" {
			reason = "failed"
		}
		return exit(fmt.Sprintf("the pod was stopped by Kubernetes (%s): %s", reason, pod.Status.Message))
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable &&
			now.Sub(c.LastTransitionTime.Time) >= unschedulableGrace {
			return exit("no node can run it: " + c.Message)
		}
	}
	s := devServerStatus(pod)
	if s == nil {
		return nil
	}
	if w := s.State.Waiting; w != nil {
		switch w.Reason {
		case "CrashLoopBackOff":
			if t := s.LastTerminationState.Terminated; t != nil {
				return terminated(pod, t)
			}
			return exit("the dev server keeps stopping: " + w.Message)
		case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
			return exit(fmt.Sprintf("the runtime image %s cannot be pulled: %s", k.opts.Image, w.Message))
		case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
			return exit("the container cannot be created: " + w.Message)
		}
	}
	if t := s.State.Terminated; t != nil {
		return terminated(pod, t)
	}
	return nil
}

// restarted is the exit of a dev server the kubelet has just restarted,
// or nil when the restart count did not go up.
func restarted(old, pod *corev1.Pod) *containers.Exit {
	o, n := devServerStatus(old), devServerStatus(pod)
	if n == nil || n.LastTerminationState.Terminated == nil || (o != nil && n.RestartCount <= o.RestartCount) || (o == nil && n.RestartCount == 0) {
		return nil
	}
	return terminated(pod, n.LastTerminationState.Terminated)
}

func terminated(pod *corev1.Pod, t *corev1.ContainerStateTerminated) *containers.Exit {
	e := &containers.Exit{
		ProjectID:   pod.Labels[labelProject],
		ContainerID: string(pod.UID),
		ExitCode:    int(t.ExitCode),
		OOMKilled:   t.Reason == "OOMKilled",
		At:          t.FinishedAt.Time,
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	return e
}

// deploymentProblem is a refusal to make the pod at all: a quota, a Pod
// Security level, an admission webhook.
func deploymentProblem(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return "Kubernetes refused to create the pod: " + c.Message
		}
	}
	return ""
}

// WaitReady waits for the dev server's pod to run, then polls path on it
// until it answers 200. It fails early, with the reason, when the pod
// cannot be made, scheduled, pulled or started, or when it dies.
func (k *Kube) WaitReady(ctx context.Context, projectID, path string, progress func(string)) (string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	ns, err := namespaceOf(projectID)
	if err != nil {
		return "", err
	}
	progress("waiting for the pod")
	var pod *corev1.Pod
	lastCheck := time.Time{}
	down := &apiOutage{}
	for pod == nil {
		if pod = k.runningPod(ns); pod != nil {
			break
		}
		if time.Since(lastCheck) > 250*time.Millisecond {
			lastCheck = time.Now()
			if err := down.judge(k.checkRunning(ctx, projectID, ns, "")); err != nil {
				return "", err
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the pod of project %s did not start: %w", projectID, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
	endpoint := endpointOf(pod)
	err = containers.PollReady(ctx, projectID, endpoint, path, progress, func() error {
		return down.judge(k.checkRunning(ctx, projectID, ns, pod.UID))
	})
	return endpoint, err
}

// apiOutageGrace is how long WaitReady bears an API server that does not
// answer before it says so, rather than wait out its whole deadline and
// blame the dev server.
const apiOutageGrace = 10 * time.Second

// apiOutage turns an unreachable API server, once it has lasted
// apiOutageGrace, into WaitReady's answer; shorter blips pass.
type apiOutage struct{ since time.Time }

func (o *apiOutage) judge(err error) error {
	if !errors.Is(err, containers.ErrEngineUnavailable) {
		o.since = time.Time{}
		return err
	}
	if o.since.IsZero() {
		o.since = time.Now()
	}
	if time.Since(o.since) < apiOutageGrace {
		return nil
	}
	return fmt.Errorf("the Kubernetes API server has not answered for %s: %w", apiOutageGrace, err)
}

// checkRunning returns an *ExitError when the project's dev server cannot
// run or has stopped, ErrNotFound when its Deployment is gone, and nil
// otherwise (including when the API server cannot tell right now). With a
// uid, a pod other than that one counts as the dev server having stopped.
func (k *Kube) checkRunning(ctx context.Context, projectID, ns string, uid types.UID) error {
	d, err := k.api.AppsV1().Deployments(ns).Get(ctx, devServer, metav1.GetOptions{})
	switch err := apiErr(err); {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("project %s: %w", projectID, containers.ErrNotFound)
	case errors.Is(err, containers.ErrEngineUnavailable) && ctx.Err() == nil:
		return fmt.Errorf("project %s: %w", projectID, err)
	case err != nil:
		return nil // the API server cannot tell right now
	}
	if msg := deploymentProblem(d); msg != "" {
		return &containers.ExitError{Exit: containers.Exit{ProjectID: projectID, Message: msg, At: time.Now()}}
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
		return &containers.ExitError{Exit: containers.Exit{ProjectID: projectID, Message: "the dev server was stopped", At: time.Now()}}
	}
	started, _ := time.Parse(time.RFC3339, d.Annotations[annotationStarted])
	for _, pod := range k.podsOf(ns) {
		if pod.DeletionTimestamp != nil {
			continue // one on its way out, stopped by studio or with its namespace
		}
		if pod.CreationTimestamp.Time.Before(started.Truncate(time.Second)) {
			continue // from before this start: an evicted pod lingers, and is not this start's
		}
		if e := k.problem(pod, time.Now()); e != nil {
			e.LogTail = k.logTail(ctx, pod, e)
			return &containers.ExitError{Exit: *e}
		}
	}
	if running := k.runningPod(ns); uid != "" && (running == nil || running.UID != uid) {
		return &containers.ExitError{Exit: containers.Exit{ProjectID: projectID, Message: "the dev server's pod stopped", At: time.Now()}}
	}
	return nil
}

// Watch reports every project pod of this instance whose dev server dies,
// or turns out unable to run, without studio having asked it to stop. The
// Deployment is scaled to zero first, as a Docker container that dies
// stays stopped: a crash-looping dev server must not burn the node. It
// returns nil when ctx ends; report runs on Watch's goroutine.
func (k *Kube) Watch(ctx context.Context, report func(containers.Exit)) error {
	exits := make(chan containers.Exit, 64)
	send := func(e *containers.Exit) {
		select {
		case exits <- *e:
		case <-ctx.Done():
		}
	}
	reg, err := k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := newObj.(*corev1.Pod)
			if !ok1 || !ok2 || pod.DeletionTimestamp != nil || old.ResourceVersion == pod.ResourceVersion {
				return
			}
			if e := restarted(old, pod); e != nil {
				send(e)
				return
			}
			now := time.Now()
			if e := k.problem(pod, now); e != nil && !sameExit(k.problem(old, now), e) {
				send(e)
			}
		},
	})
	if err != nil {
		return err
	}
	defer func() { _ = k.informer.RemoveEventHandler(reg) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-exits:
			ns, _ := namespaceOf(e.ProjectID)
			if pod := k.findPod(ns, e.ContainerID); pod != nil {
				e.LogTail = k.logTail(ctx, pod, &e)
			}
			if err := k.scaleToZero(ctx, ns); err != nil {
				k.opts.Logger.WarnContext(ctx, "stop a project whose dev server died", "project", e.ProjectID, "err", err)
			}
			report(e)
		}
	}
}

// sameExit tells whether the old pod already had the problem the new one
// has, so it was reported before.
func sameExit(was, is *containers.Exit) bool {
	return was != nil && was.Message == is.Message && was.ExitCode == is.ExitCode && was.OOMKilled == is.OOMKilled
}

func (k *Kube) findPod(ns, uid string) *corev1.Pod {
	for _, pod := range k.podsOf(ns) {
		if string(pod.UID) == uid {
			return pod
		}
	}
	return nil
}

// logTail is the last lines of the dev server that stopped: the previous
// container's when the pod restarted it.
func (k *Kube) logTail(ctx context.Context, pod *corev1.Pod, e *containers.Exit) []string {
	if e.Message != "" {
		return nil // it never ran
	}
	opts := &corev1.PodLogOptions{Container: devServer, TailLines: ptr.To(int64(exitLogLines))}
	if s := devServerStatus(pod); s != nil && s.State.Terminated == nil && s.RestartCount > 0 {
		opts.Previous = true
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := k.api.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		return nil
	}
	defer r.Close()
	return containers.Lines(r)
}
