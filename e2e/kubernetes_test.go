package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"studio/containers"
	"studio/containers/image"
	"studio/containers/kube"
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

	// The dev server's output comes from the pod log API, through studio's.
	token := apiToken(t, s, "kate@example.com", "a long password")
	if line := firstLogLine(t, s, token, projectID, "ready"); line == "" {
		t.Error("the project's logs never said the dev server was ready")
	}

	// Commands run in the pod through the exec subresource, as the
	// project's user, under their timeout.
	ns, err := cluster.Client.CoreV1().Namespaces().Get(context.Background(), "studio-"+projectID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := kube.New(kube.Options{Config: cluster.Config, Namespace: "studio", Instance: ns.Labels["studio.instance"]})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	testwait.Eventually(t, 10*time.Second, func() bool {
		_, err := rt.Endpoint(context.Background(), projectID)
		return err == nil
	}, "the runtime sees the running pod")
	res, err := rt.Exec(context.Background(), projectID, []string{"id", "-u"}, 10*time.Second, 0)
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(res.Output) != "1000" {
		t.Errorf("exec id -u = %+v, %v; want 1000", res, err)
	}
	res, err = rt.Exec(context.Background(), projectID, []string{"sleep", "30"}, time.Second, 0)
	if err != nil || !res.TimedOut {
		t.Errorf("exec sleep 30 with a 1s timeout = %+v, %v; want timed out", res, err)
	}
	kubeTerminal(t, rt, projectID)

	// The dev server dies: the card says so, with its exit, and the pod is
	// not left crash-looping. (The dashboard, with no preview open whose
	// reconnecting page would start the project again at once.)
	step(t, ctx, "the dashboard", chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active]`)))
	kill := `for p in /proc/[0-9]*; do case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in *dev.mj[s]*) kill -9 ${p#/proc/};; esac; done`
	if _, err := rt.Exec(context.Background(), projectID, []string{"sh", "-c", kill}, 10*time.Second, 0); err != nil {
		t.Logf("exec kill: %v (the connection may end with the container)", err)
	}
	step(t, ctx, "the card shows the error",
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=error] [data-testid=reason]`)))
	reason, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=project-card] [data-testid=reason]`)))
	if !strings.Contains(reason, "killed by signal 9") && !strings.Contains(reason, "exited with code") {
		t.Errorf("the card says %q, want the dev server's exit", reason)
	}
	testwait.Eventually(t, 60*time.Second, func() bool {
		pods, err := cluster.Client.CoreV1().Pods("studio-"+projectID).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	}, "the crashed project's pod is gone")
}

// firstLogLine follows the project's logs through the JSON API and
// returns the first line that contains want ("" after 30 s).
func firstLogLine(t *testing.T, s *studio, token, projectID, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr+"/api/projects/"+projectID+"/logs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET logs: %s", res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data:") && strings.Contains(line, want) {
			return line
		}
	}
	return ""
}

// openPreviewUntil opens the project's preview in the whole window and
// waits, through the "Starting…" page, until it shows the heading.
func openPreviewUntil(t *testing.T, ctx context.Context, s *studio, projectID, heading string) {
	t.Helper()
	open := func() { step(t, ctx, "open the preview", chromedp.Navigate(s.base+"/projects/"+projectID+"/preview")) }
	open()
	deadline := time.Now().Add(150 * time.Second)
	// A page that stays blank (a dev server that went away while it
	// loaded) is opened again, as a person would.
	again := time.Now().Add(30 * time.Second)
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
		if time.Now().After(again) {
			t.Logf("the preview still shows %q; opening it again", h1)
			open()
			again = time.Now().Add(30 * time.Second)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kubeTerminal checks the workspace terminal's shell on Kubernetes: a TTY
// exec as the project's user in /app, resized through the size queue, and
// hung up (its jobs with it) on close.
func kubeTerminal(t *testing.T, rt *kube.Kube, projectID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	term, err := rt.Terminal(ctx, projectID, containers.TermSize{Cols: 100, Rows: 30})
	if err != nil {
		t.Fatalf("terminal: %v", err)
	}
	var mu sync.Mutex
	var screen strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := term.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shows := func(want string) {
		t.Helper()
		testwait.Eventually(t, 20*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Contains(screen.String(), want)
		}, "the kubernetes terminal printed "+want)
	}
	io.WriteString(term, "echo \"uid=$(id -u) cwd=$(pwd) size=$(stty size)\"\n")
	shows("uid=1000 cwd=/app size=30 100")
	if err := term.Resize(ctx, containers.TermSize{Cols: 120, Rows: 40}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(term, "echo \"now=$(stty size)\"\n")
	shows("now=40 120")
	io.WriteString(term, "sleep 4321\n")
	sleeping := func() bool {
		res, err := rt.Exec(ctx, projectID, []string{"sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"}, 5*time.Second, 0)
		return err == nil && strings.Contains(res.Output, "sleep 4321")
	}
	testwait.Eventually(t, 10*time.Second, sleeping, "sleep runs in the terminal")
	if err := term.Close(); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool { return !sleeping() }, "closing the terminal ended its jobs")
}
