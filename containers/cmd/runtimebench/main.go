// Command runtimebench measures how fast a project's preview comes up:
//
//   - create: new project directory → Ensure → Start → first HTTP 200 of
//     the transformed entry module (/src/main.tsx for react-vite), and then
//     of the pre-bundled dependencies it imports (what a browser loads next);
//   - wake: Stop, then Ensure → Start → the same 200 (waking a hibernated
//     project);
//   - floor: a hardened `docker run --rm <image> true`, the least any
//     container start costs on this machine.
//
// It prints p50/p99 of each as a Markdown table for docs/benchmarks.md.
// With -runtime kubernetes it measures the same on a real cluster started
// on this machine (internal/kubetest: control plane, containerd node, the
// runtime image imported); the floor stays the Docker one, for comparison.
//
//	go run ./containers/cmd/runtimebench -n 20
//	go run ./containers/cmd/runtimebench -n 10 -runtime kubernetes
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"studio/containers"
	"studio/containers/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "runtimebench:", err)
		os.Exit(1)
	}
}

func run() error {
	runs := flag.Int("n", 20, "runs per measurement")
	template := flag.String("template", "react-vite", "project template")
	entry := flag.String("path", "/src/main.tsx", "path whose first 200 counts as ready")
	runtime := flag.String("runtime", "docker", "docker | kubernetes")
	flag.Parse()

	ctx := context.Background()
	work, err := os.MkdirTemp("", "runtimebench-")
	if err != nil {
		return err
	}
	os.Chmod(work, 0o755)
	defer os.RemoveAll(work)

	var rt containers.Engine
	var img string
	switch *runtime {
	case "docker":
		d, err := containers.NewDockerWith(containers.Options{Instance: "runtimebench"})
		if err != nil {
			return err
		}
		rt, img = d, d.Image()
	case "kubernetes":
		k, stop, err := kubernetesRuntime(ctx, work)
		if err != nil {
			return err
		}
		defer stop()
		rt, img = k, k.Image()
	default:
		return fmt.Errorf("-runtime %q is not docker or kubernetes", *runtime)
	}
	defer rt.Close()
	if err := rt.Ping(ctx); err != nil {
		return err
	}

	var create, wake, floor samples
	var ensure, start, ready, deps samples
	for i := range *runs {
		c, w, parts, err := measureProject(ctx, rt, filepath.Join(work, fmt.Sprint(i)), *template, *entry)
		if err != nil {
			return err
		}
		create, wake = append(create, c), append(wake, w)
		ensure, start, ready = append(ensure, parts[0]), append(start, parts[1]), append(ready, parts[2])
		deps = append(deps, c+parts[3])
		fmt.Fprintf(os.Stderr, "run %2d: create %v, wake %v\n", i+1, c.Round(time.Millisecond), w.Round(time.Millisecond))
	}
	for range *runs {
		d, err := dockerRunTrue(ctx, img)
		if err != nil {
			return err
		}
		floor = append(floor, d)
	}

	fmt.Printf("%s, %d runs, template %s, ready = first 200 of %s, image %s\n\n", *runtime, *runs, *template, *entry, img)
	fmt.Println("| measurement | p50 | p99 | p50 / floor |")
	fmt.Println("|---|---|---|---|")
	row := func(name string, s samples) {
		fmt.Printf("| %s | %s | %s | %.1f× |\n", name, ms(s.p(50)), ms(s.p(99)), float64(s.p(50))/float64(floor.p(50)))
	}
	row("create → ready", create)
	row("  Ensure (network + container, or namespace + objects)", ensure)
	row("  Start", start)
	row("  Start → ready", ready)
	row("create → ready + its pre-bundled dependencies", deps)
	row("wake (stop → start) → ready", wake)
	row("floor: hardened `docker run --rm … true`", floor)
	return nil
}

// measureProject creates a project, waits for it, stops it, wakes it, waits
// again and removes it. parts splits the create time into Ensure, Start and
// the wait for the dev server, and adds the time to then fetch the entry's
// pre-bundled dependencies.
func measureProject(ctx context.Context, rt containers.Runtime, dir, template, entry string) (create, wake time.Duration, parts [4]time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	id := uuid.NewString()
	defer rt.Remove(context.Background(), id)
	spec := containers.Spec{ProjectID: id, Dir: dir}

	t0 := time.Now()
	if err = image.CopyTemplate(template, dir); err != nil {
		return
	}
	if _, err = rt.Ensure(ctx, spec); err != nil {
		return
	}
	t1 := time.Now()
	if err = rt.Start(ctx, id); err != nil {
		return
	}
	t2 := time.Now()
	endpoint, err := rt.WaitReady(ctx, id, entry, nil)
	if err != nil {
		return
	}
	t3 := time.Now()
	if err = fetchDependencies(ctx, endpoint, entry); err != nil {
		return
	}
	create = t3.Sub(t0)
	parts = [4]time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3)}

	if err = rt.Stop(ctx, id); err != nil {
		return
	}
	t0 = time.Now()
	if _, err = rt.Ensure(ctx, spec); err != nil {
		return
	}
	if err = rt.Start(ctx, id); err != nil {
		return
	}
	if _, err = rt.WaitReady(ctx, id, entry, nil); err != nil {
		return
	}
	return create, time.Since(t0), parts, nil
}

// preBundled matches the imports Vite rewrote to its dependency cache.
var preBundled = regexp.MustCompile(`"(/[^"]*/\.vite/deps/[^"]+)"`)

// fetchDependencies loads the pre-bundled dependencies entry imports.
func fetchDependencies(ctx context.Context, endpoint, entry string) error {
	body, err := fetch(ctx, "http://"+endpoint+entry)
	if err != nil {
		return err
	}
	for _, m := range preBundled.FindAllStringSubmatch(body, -1) {
		if _, err := fetch(ctx, "http://"+endpoint+m[1]); err != nil {
			return err
		}
	}
	return nil
}

func fetch(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// dockerRunTrue times the docker CLI running `true` with the same hardening
// as a project container.
func dockerRunTrue(ctx context.Context, img string) (time.Duration, error) {
	args := strings.Fields("run --rm --init --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges " +
		"--read-only --tmpfs /tmp:rw,exec --memory 1g --cpus 1 --pids-limit 512")
	cmd := exec.CommandContext(ctx, "docker", append(args, img, "true")...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("docker run: %v: %s", err, out)
	}
	return time.Since(start), nil
}

type samples []time.Duration

// p is the q-th percentile (nearest rank).
func (s samples) p(q int) time.Duration {
	sorted := slices.Sorted(slices.Values(s))
	rank := (q*len(sorted) + 99) / 100
	return sorted[max(rank-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
