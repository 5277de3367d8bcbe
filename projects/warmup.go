package projects

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The most a warm-up requests, and reads of each answer: a template's first
// page loads a few dozen modules.
const (
	warmUpMaxRequests = 300
	warmUpMaxBody     = 4 << 20
	warmUpParallel    = 4
)

var (
	// htmlRef finds the local scripts, styles and images a page loads.
	htmlRef = regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["'](/[^"'#]*)["']`)
	// importRef finds the modules a module imports; Vite rewrites every
	// import it serves to an absolute path.
	importRef = regexp.MustCompile(`(?:\bfrom|\bimport)\s*\(?\s*["'](/[^"'#]+)["']`)
)

// warmUp requests the page at endpoint and every module it loads, as a
// browser opening the preview would, so the dev server has transformed and
// cached them all before anyone asks: the first real visit is then served
// from Vite's cache.
func warmUp(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: time.Minute}
	var (
		mu      sync.Mutex
		seen    = map[string]bool{"/": true}
		failed  error
		pending sync.WaitGroup
		slots   = make(chan struct{}, warmUpParallel)
	)
	var visit func(path string)
	visit = func(path string) {
		defer pending.Done()
		slots <- struct{}{}
		refs, err := warmOne(ctx, client, "http://"+endpoint+path)
		<-slots
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if failed == nil {
				failed = err
			}
			return
		}
		for _, ref := range refs {
			if seen[ref] || len(seen) >= warmUpMaxRequests || strings.HasPrefix(ref, "//") {
				continue
			}
			seen[ref] = true
			pending.Add(1)
			go visit(ref)
		}
	}
	pending.Add(1)
	go visit("/")
	pending.Wait()
	return failed
}

// warmOne requests one URL and returns the local paths its answer refers to.
func warmOne(ctx context.Context, client *http.Client, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// As a browser's module request looks, so Vite answers with the
	// transformed module.
	req.Header.Set("Accept", "*/*")
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("warm up the dev server: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, warmUpMaxBody))
	if err != nil {
		return nil, fmt.Errorf("warm up the dev server: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, nil // a missing favicon is no reason to give up
	}
	var refs []string
	kind := res.Header.Get("Content-Type")
	pattern := importRef
	if strings.HasPrefix(kind, "text/html") {
		pattern = htmlRef
	} else if !strings.Contains(kind, "javascript") {
		return nil, nil
	}
	for _, m := range pattern.FindAllSubmatch(body, -1) {
		refs = append(refs, string(m[1]))
	}
	if strings.HasPrefix(kind, "text/html") {
		// Inline module scripts (Vite's React refresh preamble) import too.
		for _, m := range importRef.FindAllSubmatch(body, -1) {
			refs = append(refs, string(m[1]))
		}
	}
	return refs, nil
}
