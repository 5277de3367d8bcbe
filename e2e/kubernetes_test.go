package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"studio/containers/image"
	"studio/internal/kubetest"
	"studio/internal/testwait"
)

// kubernetesStudio starts a real cluster with a node on this machine, the
// runtime image imported into its containerd, and a studio in kubernetes
// mode whose projects volume is its data folder on the node.
func kubernetesStudio(t *testing.T) (*studio, *kubetest.Cluster) {
	t.Helper()
	cluster, err := kubetest.Start(kubetest.Options{Node: true, Images: []string{image.Reference()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)

	// The projects folder must exist before the volume is made on it:
	// studio's data folder is chosen by startStudio, so make it here.
	data := filepath.Join(t.TempDir(), "data")
	projects := filepath.Join(data, "projects")
	if err := os.MkdirAll(projects, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(data), 0o755)
	if err := cluster.HostPathClaim(context.Background(), "studio", "studio-projects", data); err != nil {
		t.Fatal(err)
	}

	s := startStudioIn(t, data,
		"STUDIO_RUNTIME=kubernetes",
		"KUBECONFIG="+cluster.Kubeconfig,
		"STUDIO_KUBE_NAMESPACE=studio",
		"STUDIO_RUNTIME_IMAGE="+image.Reference(),
	)
	return s, cluster
}

// TestKubernetesCreatePreviewEditHibernateWake: in kubernetes mode a new
// user creates a project whose pod really runs Vite on the node, sees the
// preview through studio's proxy, edits a file and sees hot reload, stops
// it (the Deployment scales to zero, the files stay) and wakes it by
// opening the preview again.
func TestKubernetesCreatePreviewEditHibernateWake(t *testing.T) {
	s, cluster := kubernetesStudio(t)
	ctx := browser(t)
	type css = chromedp.CSS
	// The first action starts the browser, which lives as long as the
	// context it ran on: not one of step's short ones.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/signup")); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "sign up and create",
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), "kate@example.com"),
		chromedp.SendKeys(css(`#f-password`), "a long password"),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
		chromedp.SendKeys(css(`#f-name`), "Kube App"),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card]`)),
	)
	created := time.Now()
	step(t, ctx, "card turns active", chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active]`)))
	t.Logf("kubernetes: card active %v after the click", time.Since(created).Round(time.Millisecond))

	// The project runs as a pod of its own namespace on the node.
	pods, err := cluster.Client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: "studio.managed=true"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning {
		t.Fatalf("project pods: %v %+v", err, pods)
	}
	projectID := pods.Items[0].Labels["studio.project"]

	preview := func(name string) {
		t.Helper()
		step(t, ctx, "open the workspace ("+name+")",
			chromedp.Navigate(s.base+"/projects/"+projectID),
			chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
		)
	}
	preview("first")
	inFrame := previewFrame(t, ctx)
	if err := chromedp.Do(ctx, chromedp.SetAttributeValue(css(`body`), "data-studio-marker", "kept", inFrame)); err != nil {
		t.Fatal(err)
	}
	writeThroughAPI(t, s, "kate@example.com", "a long password", projectID, "src/App.tsx",
		`export default function App() { return <h1>Hello from a pod</h1> }`+"\n")
	waitFrameHeading(t, ctx, inFrame, "Hello from a pod")
	marker, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`body`), "data-studio-marker", inFrame))
	if err != nil || marker.Value != "kept" {
		t.Fatalf("the preview reloaded the page instead of hot-reloading: %v %+v", err, marker)
	}

	press := func(button string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=` + button + `]').click()`)
	}
	step(t, ctx, "stop", press("ws-stop"),
		chromedp.WaitVisible(css(`#ws-header[data-status=stopped] [data-testid=ws-start]`)))
	testwait.Eventually(t, 60*time.Second, func() bool {
		pods, err := cluster.Client.CoreV1().Pods("studio-"+projectID).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	}, "the pod is gone once the project is stopped")

	// Opening the preview wakes it (the "Starting…" page, then the app);
	// the edit is still there.
	woke := time.Now()
	openPreviewUntil(t, ctx, s, projectID, "Hello from a pod")
	t.Logf("kubernetes: preview answered %v after opening a stopped project", time.Since(woke).Round(time.Millisecond))

	// Someone deletes the project's namespace behind studio's back: the
	// next preview request finds the dev server gone, and studio makes the
	// namespace and its objects again; the files were never in it.
	if err := cluster.Client.CoreV1().Namespaces().Delete(context.Background(), "studio-"+projectID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 60*time.Second, func() bool {
		pods, err := cluster.Client.CoreV1().Pods("studio-"+projectID).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	}, "the deleted namespace's pod is gone")
	openPreviewUntil(t, ctx, s, projectID, "Hello from a pod")
	step(t, ctx, "active again", chromedp.Navigate(s.base+"/projects/"+projectID), chromedp.WaitVisible(css(`#ws-header[data-status=active]`)))
}

// openPreviewUntil opens the project's preview in the whole window and
// waits, through the "Starting…" page, until it shows the heading.
func openPreviewUntil(t *testing.T, ctx context.Context, s *studio, projectID, heading string) {
	t.Helper()
	step(t, ctx, "open the preview", chromedp.Navigate(s.base+"/projects/"+projectID+"/preview"))
	deadline := time.Now().Add(150 * time.Second)
	for {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		h1, _ := chromedp.Run(qctx, chromedp.Text(chromedp.CSS(`h1`)))
		cancel()
		if h1 == heading {
			return
		}
		if time.Now().After(deadline) {
			where, _ := chromedp.Run(ctx, chromedp.Location())
			screenshot(t, ctx, "failed-kubernetes-preview")
			t.Fatalf("the preview at %s shows %q, want %q", where, h1, heading)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func waitFrameHeading(t *testing.T, ctx context.Context, inFrame chromedp.QueryOption, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		h1, _ := chromedp.Run(qctx, chromedp.Text(chromedp.CSS(`h1`), inFrame))
		cancel()
		if h1 == want {
			return
		}
		if time.Now().After(deadline) {
			screenshot(t, ctx, "failed-frame-heading")
			t.Fatalf("the preview frame shows %q, want %q", h1, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
