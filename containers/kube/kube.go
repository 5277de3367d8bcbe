// Package kube runs each project as a hardened pod on Kubernetes: its own
// namespace holding a one-replica Deployment (zero while the project
// sleeps), a Service, a NetworkPolicy, a quota and the claim on its files.
// It implements containers.Runtime, so everything above the interface works
// as it does on Docker.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"studio/containers"
	"studio/containers/image"
)

// Labels on every object studio creates; ListManaged and Watch look only at
// objects carrying this instance's.
const (
	labelProject  = "studio.project"
	labelManaged  = "studio.managed"
	labelInstance = "studio.instance"
	// labelApp names studio's own pods, the only ones a project admits.
	labelApp = "app.kubernetes.io/name"
	// annotationSpec fingerprints a Deployment's pod template, so Ensure
	// can tell an up-to-date one from one an older studio made.
	annotationSpec = "studio.spec"
	// annotationStarted marks a Deployment that has run at least once: at
	// zero replicas it is then stopped rather than created.
	annotationStarted = "studio.started"
)

// Names inside a project's namespace.
const (
	devServer     = "dev-server" // the Deployment, its container and the Service
	filesClaim    = "files"
	devServerPort = 5173
	appDir        = "/app"
	projectHome   = "/home/studio"
)

// Options tunes the runtime; zero fields take the defaults.
type Options struct {
	// Config reaches the API server; default: in the cluster, or KUBECONFIG
	// (then ~/.kube/config).
	Config *rest.Config
	// Namespace is studio's own; its pods labelled
	// app.kubernetes.io/name=studio alone may reach the dev servers.
	// Default: the pod's namespace in a cluster, else "studio".
	Namespace string
	// ProjectsClaim is the ReadWriteMany claim in Namespace that holds
	// every project's files and checkpoints; default "studio-projects".
	ProjectsClaim string
	// VolumeRoot is where studio mounts that claim (its data folder, so
	// checkpoints are shared by every replica too): a project's files at
	// VolumeRoot/projects/<id> are at projects/<id> on the volume, the
	// subPath its pod mounts. Default: the folder above the project's.
	VolumeRoot  string
	Image       string        // default image.Reference()
	Instance    string        // default "default"
	Memory      int64         // bytes per project; default 1 GiB
	MilliCPUs   int64         // CPU per project in thousandths; default 1000
	StopTimeout time.Duration // grace before a stopping dev server is killed; default 5s
	Logger      *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = inClusterNamespace()
	}
	if o.ProjectsClaim == "" {
		o.ProjectsClaim = "studio-projects"
	}
	if o.Image == "" {
		o.Image = image.Reference()
	}
	if o.Instance == "" {
		o.Instance = "default"
	}
	if o.Memory == 0 {
		o.Memory = 1 << 30
	}
	if o.MilliCPUs == 0 {
		o.MilliCPUs = 1000
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func inClusterNamespace() string {
	b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if ns := strings.TrimSpace(string(b)); err == nil && ns != "" {
		return ns
	}
	return "studio"
}

// Kube is the Kubernetes runtime.
type Kube struct {
	api     kubernetes.Interface // calls that end within a time limit
	streams kubernetes.Interface // watches and log streams, which do not
	rest    *rest.Config         // for exec, which needs its own connection
	opts    Options

	// pods mirrors this instance's project pods, kept by an informer:
	// readiness polling and exit detection read it instead of the API.
	pods     listerscorev1.PodLister
	informer cache.SharedIndexInformer
	stop     context.CancelFunc

	volumeMu sync.Mutex
	shared   *corev1.PersistentVolume // the projects claim's volume, once read
}

var _ containers.Engine = (*Kube)(nil)

// Config loads the API server's address and credentials the way kubectl
// does: inside a cluster from the pod's service account, otherwise from
// KUBECONFIG or ~/.kube/config.
func Config() (*rest.Config, error) {
	if c, err := rest.InClusterConfig(); err == nil {
		return c, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: no in-cluster service account and no usable KUBECONFIG: %w", err)
	}
	return c, nil
}

// New connects to the API server and starts following this instance's
// pods. It does not wait for the API server: an unreachable one shows as
// errors from the calls, and the informer catches up when it answers.
func New(opts Options) (*Kube, error) {
	opts = opts.withDefaults()
	if opts.Config == nil {
		c, err := Config()
		if err != nil {
			return nil, err
		}
		opts.Config = c
	}
	// Two clients: one whose calls end after 30 s, so a hung API server
	// never holds a request or a reconcile forever, and one without a
	// limit for what streams (the pod informer's watch, followed logs,
	// exec), which such a limit would cut off.
	streaming := rest.CopyConfig(opts.Config)
	streaming.UserAgent = "studio"
	streaming.Timeout = 0
	unary := rest.CopyConfig(streaming)
	if opts.Config.Timeout > 0 {
		unary.Timeout = opts.Config.Timeout
	} else {
		unary.Timeout = 30 * time.Second
	}
	api, err := kubernetes.NewForConfig(unary)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	streams, err := kubernetes.NewForConfig(streaming)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return newWith(api, streams, streaming, opts), nil
}

func newWith(api, streams kubernetes.Interface, cfg *rest.Config, opts Options) *Kube {
	k := &Kube{api: api, streams: streams, rest: cfg, opts: opts}
	selector := labels.SelectorFromSet(labels.Set{labelManaged: "true", labelInstance: opts.Instance}).String()
	factory := informers.NewSharedInformerFactoryWithOptions(streams, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	k.informer = factory.Core().V1().Pods().Informer()
	k.pods = factory.Core().V1().Pods().Lister()
	ctx, stop := context.WithCancel(context.Background())
	k.stop = stop
	factory.Start(ctx.Done())
	return k
}

// Close stops following pods.
func (k *Kube) Close() error {
	k.stop()
	return nil
}

// Image is the image project pods run.
func (k *Kube) Image() string { return k.opts.Image }

// Ping reports whether the API server answers.
func (k *Kube) Ping(ctx context.Context) error {
	_, err := k.api.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("kubernetes API server: %w", apiErr(err))
	}
	return nil
}

// Usage needs the metrics API, which studio does not read yet.
func (k *Kube) Usage(context.Context, string) (containers.Usage, error) {
	return containers.Usage{}, containers.ErrUsageUnavailable
}

// namespaceOf derives the project's namespace from its id, which must be a
// UUID: it ends up in names and label selectors.
func namespaceOf(projectID string) (string, error) {
	if err := uuid.Validate(projectID); err != nil {
		return "", fmt.Errorf("project id %q: %w", projectID, err)
	}
	return "studio-" + projectID, nil
}

func (k *Kube) volumeName(projectID string) string {
	return "studio-" + k.opts.Instance + "-" + projectID
}

func (k *Kube) labels(projectID string) map[string]string {
	return map[string]string{
		labelProject:  projectID,
		labelManaged:  "true",
		labelInstance: k.opts.Instance,
	}
}

// apiErr marks failures to reach the API server so callers can tell "the
// cluster is down" from "the cluster said no".
func apiErr(err error) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && !apierrors.IsServiceUnavailable(err) && !apierrors.IsTimeout(err) && !apierrors.IsServerTimeout(err) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", containers.ErrEngineUnavailable, err)
}
