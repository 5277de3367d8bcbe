package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"studio/containers"
	"studio/containers/image"
)

// fieldManager names studio in the objects' managed fields.
const fieldManager = "studio"

// Ensure creates whatever of the project's namespace and objects is
// missing and brings an out-of-date Deployment up to date. It does not
// start the dev server.
func (k *Kube) Ensure(ctx context.Context, spec containers.Spec) (containers.Status, error) {
	p, err := k.project(spec)
	if err != nil {
		return containers.Status{}, err
	}
	want := k.deployment(p)
	have, err := k.api.AppsV1().Deployments(p.namespace).Get(ctx, devServer, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return containers.Status{}, fmt.Errorf("read the dev server of project %s: %w", p.id, apiErr(err))
	}
	// The common case, a project started before: its Deployment is current
	// and its namespace intact, so only the objects that protect it are
	// applied again (someone may have changed them).
	current := err == nil && have.Annotations[annotationSpec] == want.Annotations[annotationSpec] &&
		have.DeletionTimestamp == nil && k.namespaceLives(ctx, p.namespace)
	if !current {
		if err := k.ensureNamespace(ctx, p); err != nil {
			return containers.Status{}, err
		}
		if err := k.ensureStorage(ctx, p); err != nil {
			return containers.Status{}, err
		}
	}
	for _, obj := range []applied{
		{"resourcequotas", k.quota(p)},
		{"limitranges", k.limitRange(p)},
		{"networkpolicies", k.networkPolicy(p)},
		{"services", k.service(p)},
	} {
		if err := k.apply(ctx, p.namespace, obj); err != nil {
			return containers.Status{}, fmt.Errorf("project %s: %w", p.id, err)
		}
	}
	if current {
		return k.statusOf(spec.ProjectID, have), nil
	}
	if err := k.ensureDeployment(ctx, p, want); err != nil {
		return containers.Status{}, err
	}
	return k.Status(ctx, spec.ProjectID)
}

// namespaceLives tells whether the namespace is there, not being deleted
// (a Deployment in a namespace someone deleted lingers a moment) and still
// enforcing the restricted level.
func (k *Kube) namespaceLives(ctx context.Context, name string) bool {
	ns, err := k.api.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	return err == nil && ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating &&
		ns.Labels[podSecurityLabel] == "restricted"
}

// project checks the spec and works out what the objects are made from.
func (k *Kube) project(spec containers.Spec) (project, error) {
	ns, err := namespaceOf(spec.ProjectID)
	if err != nil {
		return project{}, err
	}
	if err := containers.CheckProjectDir(spec.Dir); err != nil {
		return project{}, fmt.Errorf("project %s: %w", spec.ProjectID, err)
	}
	root := k.opts.VolumeRoot
	if root == "" {
		root = filepath.Dir(spec.Dir)
	}
	sub, err := filepath.Rel(root, spec.Dir)
	if err != nil || sub == "." || sub == ".." || strings.HasPrefix(sub, "../") {
		return project{}, fmt.Errorf("project %s: folder %s is not inside the projects volume at %s", spec.ProjectID, spec.Dir, root)
	}
	// Always the image's own unprivileged user: studio's replicas write the
	// shared volume as that user too (deploy/kubernetes runs them as 1000).
	p := project{id: spec.ProjectID, namespace: ns, subPath: filepath.ToSlash(sub), uid: image.ProjectUID, gid: image.ProjectGID}
	for _, kv := range spec.Env {
		name, value, _ := strings.Cut(kv, "=")
		p.env = append(p.env, corev1.EnvVar{Name: name, Value: value})
	}
	return p, nil
}

// namespaceGone bounds the wait for a namespace that is being deleted (by
// someone else, behind studio's back) before it is made again.
const namespaceGone = time.Minute

func (k *Kube) ensureNamespace(ctx context.Context, p project) error {
	want := k.namespaceObject(p)
	var ns *corev1.Namespace
	err := poll(ctx, 250*time.Millisecond, namespaceGone, func(ctx context.Context) (bool, error) {
		var err error
		ns, err = k.api.CoreV1().Namespaces().Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			ns, err = k.api.CoreV1().Namespaces().Get(ctx, p.namespace, metav1.GetOptions{})
		}
		switch {
		case apierrors.IsNotFound(err): // deleted just now: create it again
			return false, nil
		case err != nil:
			return false, fmt.Errorf("namespace of project %s: %w", p.id, apiErr(err))
		}
		return ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating, nil
	}, func() error {
		return fmt.Errorf("namespace %s of project %s is still being deleted; try again in a moment", p.namespace, p.id)
	})
	if err != nil {
		return err
	}
	if ns.Labels[labelInstance] != k.opts.Instance || ns.Labels[labelProject] != p.id {
		return fmt.Errorf("namespace %s exists but does not belong to this studio (instance %q)", p.namespace, k.opts.Instance)
	}
	// Studio may not change a namespace (its ServiceAccount has no such
	// right), so one whose Pod Security level was lowered is refused.
	if ns.Labels[podSecurityLabel] != "restricted" {
		return fmt.Errorf("namespace %s no longer enforces the restricted Pod Security level (%s=%q); studio will not run the project there", p.namespace, podSecurityLabel, ns.Labels[podSecurityLabel])
	}
	return k.waitServiceAccount(ctx, p)
}

// waitServiceAccount waits for the "default" ServiceAccount the controller
// manager gives a new namespace a moment after it is made. A pod asked for
// before it exists is refused ("error looking up service account"), and
// the ReplicaSet controller only tries again after a growing back-off, so
// the Deployment is not created until it is there.
func (k *Kube) waitServiceAccount(ctx context.Context, p project) error {
	return poll(ctx, 100*time.Millisecond, namespaceGone, func(ctx context.Context) (bool, error) {
		_, err := k.api.CoreV1().ServiceAccounts(p.namespace).Get(ctx, "default", metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("service account of project %s: %w", p.id, apiErr(err))
		}
		return true, nil
	}, func() error {
		return fmt.Errorf("namespace %s of project %s has no default service account yet; try again in a moment", p.namespace, p.id)
	})
}

// ensureStorage gives the project its own volume and claim on the shared
// projects volume. A volume left Released by a namespace deleted behind
// studio's back is freed for the new claim: the files on it are the
// project's own.
func (k *Kube) ensureStorage(ctx context.Context, p project) error {
	shared, err := k.sharedVolume(ctx)
	if err != nil {
		return err
	}
	pvs := k.api.CoreV1().PersistentVolumes()
	pv, err := pvs.Create(ctx, k.volume(p, shared), metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		pv, err = pvs.Get(ctx, k.volumeName(p.id), metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("volume of project %s: %w", p.id, apiErr(err))
	}
	if pv.Status.Phase == corev1.VolumeReleased {
		// Bound to a claim that is gone: make it anew for the new claim
		// (Retain: deleting it leaves the files alone).
		if err := k.renewVolume(ctx, p, shared); err != nil {
			return fmt.Errorf("free the volume of project %s: %w", p.id, apiErr(err))
		}
	}
	// Read before creating: the quota's admission check runs before the
	// "already exists" one, and a second claim is over the quota.
	claims := k.api.CoreV1().PersistentVolumeClaims(p.namespace)
	_, err = claims.Get(ctx, filesClaim, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = claims.Create(ctx, k.claim(p, shared), metav1.CreateOptions{FieldManager: fieldManager})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("claim of project %s: %w", p.id, apiErr(err))
	}
	return nil
}

// renewVolume deletes the project's volume, waits for it to be gone and
// makes it again.
func (k *Kube) renewVolume(ctx context.Context, p project, shared *corev1.PersistentVolume) error {
	pvs := k.api.CoreV1().PersistentVolumes()
	name := k.volumeName(p.id)
	if err := pvs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	err := poll(ctx, 100*time.Millisecond, 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := pvs.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}, func() error { return fmt.Errorf("volume %s is still being deleted", name) })
	if err != nil {
		return err
	}
	_, err = pvs.Create(ctx, k.volume(p, shared), metav1.CreateOptions{FieldManager: fieldManager})
	return err
}

// sharedVolume is the volume bound to the projects claim, read once.
func (k *Kube) sharedVolume(ctx context.Context) (*corev1.PersistentVolume, error) {
	k.volumeMu.Lock()
	defer k.volumeMu.Unlock()
	if k.shared != nil {
		return k.shared, nil
	}
	claim, err := k.api.CoreV1().PersistentVolumeClaims(k.opts.Namespace).Get(ctx, k.opts.ProjectsClaim, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("the projects claim %s/%s does not exist: create it (a ReadWriteMany claim, see deploy/kubernetes) or set STUDIO_KUBE_PROJECTS_CLAIM", k.opts.Namespace, k.opts.ProjectsClaim)
	}
	if err != nil {
		return nil, fmt.Errorf("read the projects claim: %w", apiErr(err))
	}
	if claim.Spec.VolumeName == "" || claim.Status.Phase != corev1.ClaimBound {
		return nil, fmt.Errorf("the projects claim %s/%s is not bound to a volume yet (%s)", k.opts.Namespace, k.opts.ProjectsClaim, claim.Status.Phase)
	}
	pv, err := k.api.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the projects volume %s: %w", claim.Spec.VolumeName, apiErr(err))
	}
	k.shared = pv
	return pv, nil
}

// ensureDeployment creates the Deployment, or updates an out-of-date one's
// pod template and keeps its replicas: a running project rolls over to the
// new template, a stopped one stays stopped.
func (k *Kube) ensureDeployment(ctx context.Context, p project, want *appsv1.Deployment) error {
	deployments := k.api.AppsV1().Deployments(p.namespace)
	cur, err := deployments.Get(ctx, devServer, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err := deployments.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
		if err == nil || apierrors.IsAlreadyExists(err) { // another replica made it a moment ago
			return nil
		}
		return fmt.Errorf("create the dev server of project %s: %w", p.id, apiErr(err))
	case err != nil:
		return fmt.Errorf("read the dev server of project %s: %w", p.id, apiErr(err))
	case cur.Annotations[annotationSpec] == want.Annotations[annotationSpec]:
		return nil
	}
	k.opts.Logger.InfoContext(ctx, "updating an out-of-date project deployment", "project", p.id, "image", k.opts.Image)
	// The controllers write the Deployment's status all the time: read it
	// again and retry when the write lost the race.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := deployments.Get(ctx, devServer, metav1.GetOptions{})
		if err != nil || cur.Annotations[annotationSpec] == want.Annotations[annotationSpec] {
			return err
		}
		cur.Spec.Template = want.Spec.Template
		cur.Spec.Strategy = want.Spec.Strategy
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[annotationSpec] = want.Annotations[annotationSpec]
		_, err = deployments.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("update the dev server of project %s: %w", p.id, apiErr(err))
	}
	return nil
}

// applied is one namespaced object Ensure keeps as studio wants it; the
// object carries its kind (TypeMeta), which the apply body needs.
type applied struct {
	resource string
	object   interface {
		metav1.Object
		runtime.Object
	}
}

// apply creates or updates an object with server-side apply: one call
// either way, and a field someone else changed is taken back.
func (k *Kube) apply(ctx context.Context, namespace string, a applied) error {
	body, err := json.Marshal(a.object)
	if err != nil {
		return err
	}
	gvk := a.object.GetObjectKind().GroupVersionKind()
	client := k.api.CoreV1().RESTClient()
	if gvk.Group == networkingv1.GroupName {
		client = k.api.NetworkingV1().RESTClient()
	}
	err = client.Patch(types.ApplyPatchType).
		Namespace(namespace).Resource(a.resource).Name(a.object.GetName()).
		Param("fieldManager", fieldManager).Param("force", "true").
		Body(body).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, a.object.GetName(), apiErr(err))
	}
	return nil
}

// Start scales the dev server to one replica.
func (k *Kube) Start(ctx context.Context, projectID string) error {
	ns, err := namespaceOf(projectID)
	if err != nil {
		return err
	}
	// The time of the start tells WaitReady which pods are this start's: a
	// pod that failed before it (evicted, say) lingers and must not count.
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"replicas":1}}`, annotationStarted, time.Now().UTC().Format(time.RFC3339))
	_, err = k.api.AppsV1().Deployments(ns).Patch(ctx, devServer, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("project %s: %w", projectID, containers.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("start project %s: %w", projectID, apiErr(err))
	}
	return nil
}

// Stop scales the dev server to zero and waits, a little longer than its
// grace period, for its pod to go: callers rely on the dev server having
// stopped writing the project's files. The namespace, its objects and the
// files stay.
func (k *Kube) Stop(ctx context.Context, projectID string) error {
	ns, err := namespaceOf(projectID)
	if err != nil {
		return err
	}
	if err := k.scaleToZero(ctx, ns); err != nil {
		return fmt.Errorf("stop project %s: %w", projectID, err)
	}
	// Asked of the API server, not the informer's cache, which may not
	// have caught up (or be connected) yet.
	limit := k.opts.StopTimeout + 10*time.Second
	err = poll(ctx, 100*time.Millisecond, limit, func(ctx context.Context) (bool, error) {
		pods, err := k.api.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return (err == nil && len(pods.Items) == 0) || apierrors.IsNotFound(err), nil
	}, func() error { return fmt.Errorf("its pod is still there %s after it was told to stop", limit) })
	if err != nil {
		return fmt.Errorf("stop project %s: %w", projectID, err)
	}
	return nil
}

// poll asks done every interval, at once first, until it says so or fails.
// When limit passes first it returns late's error; when ctx ends, ctx's.
func poll(ctx context.Context, interval, limit time.Duration, done wait.ConditionWithContextFunc, late func() error) error {
	err := wait.PollUntilContextTimeout(ctx, interval, limit, true, done)
	if err != nil && ctx.Err() == nil && wait.Interrupted(err) {
		return late()
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (k *Kube) scaleToZero(ctx context.Context, ns string) error {
	_, err := k.api.AppsV1().Deployments(ns).Patch(ctx, devServer, types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsNotFound(err) {
		return apiErr(err)
	}
	return nil
}

// Remove stops the dev server, then deletes the project's namespace and
// volume; the files on the shared volume stay (studio deletes them).
func (k *Kube) Remove(ctx context.Context, projectID string) error {
	ns, err := namespaceOf(projectID)
	if err != nil {
		return err
	}
	if err := k.Stop(ctx, projectID); err != nil {
		return err
	}
	background := metav1.DeletePropagationBackground
	err = k.api.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &background})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove the namespace of project %s: %w", projectID, apiErr(err))
	}
	err = k.api.CoreV1().PersistentVolumes().Delete(ctx, k.volumeName(projectID), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove the volume of project %s: %w", projectID, apiErr(err))
	}
	return nil
}

// Status reports the dev server's state from its Deployment and pod.
func (k *Kube) Status(ctx context.Context, projectID string) (containers.Status, error) {
	ns, err := namespaceOf(projectID)
	if err != nil {
		return containers.Status{}, err
	}
	d, err := k.api.AppsV1().Deployments(ns).Get(ctx, devServer, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return containers.Status{ProjectID: projectID, State: containers.StateMissing}, nil
	}
	if err != nil {
		return containers.Status{}, fmt.Errorf("status of project %s: %w", projectID, apiErr(err))
	}
	return k.statusOf(projectID, d), nil
}

func (k *Kube) statusOf(projectID string, d *appsv1.Deployment) containers.Status {
	st := containers.Status{ProjectID: projectID, ContainerID: string(d.UID)}
	switch {
	case d.DeletionTimestamp != nil:
		st.State = containers.StateMissing
	case d.Spec.Replicas != nil && *d.Spec.Replicas == 0 && d.Annotations[annotationStarted] == "":
		st.State = containers.StateCreated
	case d.Spec.Replicas != nil && *d.Spec.Replicas == 0:
		st.State = containers.StateStopped
	default:
		st.State = containers.StateRunning
		if pod := k.runningPod(d.Namespace); pod != nil {
			st.Endpoint = endpointOf(pod)
			if s := devServerStatus(pod); s != nil && s.State.Running != nil {
				st.StartedAt = s.State.Running.StartedAt.Time
			}
		}
	}
	return st
}

// Endpoint is the address of the running dev server's pod: where the
// project's Service sends traffic, dialled directly so a preview needs no
// kube-proxy between studio and the pod, and reaches only a pod that runs.
func (k *Kube) Endpoint(ctx context.Context, projectID string) (string, error) {
	st, err := k.Status(ctx, projectID)
	if err != nil {
		return "", err
	}
	switch {
	case st.State == containers.StateMissing:
		return "", fmt.Errorf("project %s: %w", projectID, containers.ErrNotFound)
	case st.State != containers.StateRunning || st.Endpoint == "":
		return "", fmt.Errorf("project %s: %w", projectID, containers.ErrNotRunning)
	}
	return st.Endpoint, nil
}

// Serves tells whether addr is the running dev server of the project: a
// pod's address is given to another pod once it is gone, so the proxy asks
// before each request it forwards. The pod informer's cache answers; a
// "no" from it is asked again of the API server, since the cache may lag
// behind a pod that just started or changed, and a "no" makes the proxy
// restart the project.
func (k *Kube) Serves(projectID, addr string) bool {
	ns, err := namespaceOf(projectID)
	if err != nil {
		return false
	}
	if !k.informer.HasSynced() {
		return true // just started: the row is all there is to go on
	}
	if servesFrom(k.podsOf(ns), projectID, addr) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), servesCheckTimeout)
	defer cancel()
	list, err := k.api.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	return servesFrom(pods, projectID, addr)
}

// servesCheckTimeout bounds the API server's answer to Serves.
const servesCheckTimeout = 2 * time.Second

// servesFrom tells whether one of pods is the project's running dev
// server at addr.
func servesFrom(pods []*corev1.Pod, projectID, addr string) bool {
	pod := runningPodOf(pods)
	return pod != nil && pod.Labels[labelProject] == projectID && endpointOf(pod) == addr
}

// ListManaged lists this instance's projects that have a namespace, a
// Deployment or a volume; one without a Deployment is StateMissing.
func (k *Kube) ListManaged(ctx context.Context) ([]containers.Status, error) {
	selector := labels.SelectorFromSet(labels.Set{labelManaged: "true", labelInstance: k.opts.Instance}).String()
	list := metav1.ListOptions{LabelSelector: selector}
	namespaces, err := k.api.CoreV1().Namespaces().List(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("list project namespaces: %w", apiErr(err))
	}
	deployments, err := k.api.AppsV1().Deployments("").List(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("list project deployments: %w", apiErr(err))
	}
	volumes, err := k.api.CoreV1().PersistentVolumes().List(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("list project volumes: %w", apiErr(err))
	}
	var out []containers.Status
	seen := map[string]bool{}
	for i := range deployments.Items {
		d := &deployments.Items[i]
		id := d.Labels[labelProject]
		if seen[id] || d.Namespace != "studio-"+id {
			continue
		}
		seen[id] = true
		out = append(out, k.statusOf(id, d))
	}
	for _, n := range namespaces.Items {
		if id := n.Labels[labelProject]; !seen[id] {
			seen[id] = true
			out = append(out, containers.Status{ProjectID: id, State: containers.StateMissing})
		}
	}
	for _, v := range volumes.Items {
		if id := v.Labels[labelProject]; !seen[id] {
			seen[id] = true
			out = append(out, containers.Status{ProjectID: id, State: containers.StateMissing})
		}
	}
	return out, nil
}

// podsOf lists the project's pods from the informer's cache.
func (k *Kube) podsOf(ns string) []*corev1.Pod {
	pods, _ := k.pods.Pods(ns).List(labels.Everything())
	return pods
}

// runningPod is the project's pod whose dev server runs, if there is one.
func (k *Kube) runningPod(ns string) *corev1.Pod { return runningPodOf(k.podsOf(ns)) }

// runningPodOf is the pod among pods whose dev server runs, if there is one.
func runningPodOf(pods []*corev1.Pod) *corev1.Pod {
	for _, pod := range pods {
		if pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "" {
			if s := devServerStatus(pod); s != nil && s.State.Running != nil {
				return pod
			}
		}
	}
	return nil
}

func endpointOf(pod *corev1.Pod) string {
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(devServerPort))
}

func devServerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == devServer {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}
