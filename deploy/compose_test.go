package deploy

import (
	"bufio"
	"context"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"studio/config"
)

// The operator's settings for the tests: .env.example with the values it
// leaves for the operator to choose filled in.
var operatorSettings = map[string]string{
	"STUDIO_SECRET_KEY": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
	"POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef",
	"ACME_EMAIL":        "ops@example.com",
	"CF_DNS_API_TOKEN":  "token",
}

var composeVariants = map[string][]string{
	"acme":     {"docker-compose.yml"},
	"local-ca": {"docker-compose.yml", "docker-compose.local-ca.yml"},
}

// TestComposeFiles loads the compose files with the Compose
// specification's own loader (which validates them against the schema) and
// checks what the deployment's safety rests on.
func TestComposeFiles(t *testing.T) {
	t.Parallel()
	env := exampleEnv(t)
	for k, v := range operatorSettings {
		env[k] = v
	}
	for name, files := range composeVariants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := loadCompose(t, files, env)
			checkServices(t, p)
			checkDockerSocket(t, p)
			checkNetworks(t, p)
			checkTraefikProxy(t, p)
			checkStudioProxy(t, p, env)
			checkStudio(t, p, env)
			checkPostgres(t, p)
			checkRuntime(t, p)
			checkTraefik(t, p, env, name)
			checkStudioLabels(t, p, env)
		})
	}
}

// TestComposeNeedsTheOperatorsSettings: .env.example as it is, without the
// secrets filled in, does not start anything.
func TestComposeNeedsTheOperatorsSettings(t *testing.T) {
	t.Parallel()
	_, err := composeProject(t, composeVariants["acme"], exampleEnv(t))
	if err == nil || !strings.Contains(err.Error(), "in .env") {
		t.Fatalf("loading with .env.example's empty secrets: %v, want an error naming the missing setting", err)
	}
}

// TestEnvExampleListsEveryVariable: every ${VAR} the compose files read is
// in .env.example, and every variable there is read.
func TestEnvExampleListsEveryVariable(t *testing.T) {
	t.Parallel()
	env := exampleEnv(t)
	used := map[string]bool{}
	ref := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)
	for _, f := range []string{"docker-compose.yml", "docker-compose.local-ca.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for v := range used {
		if _, ok := env[v]; !ok {
			t.Errorf("the compose files read ${%s}, which .env.example does not list", v)
		}
	}
	for v := range env {
		if !used[v] {
			t.Errorf(".env.example lists %s, which no compose file reads", v)
		}
	}
}

// TestRuntimeDockerfileMatchesImage: deploy/runtime.Dockerfile's final
// stage is containers/image/Dockerfile after its FROM line, with the
// templates (and their installed dependencies) from its first stage.
func TestRuntimeDockerfileMatchesImage(t *testing.T) {
	t.Parallel()
	want := afterFrom(t, "../containers/image/Dockerfile", 1)
	for i, l := range want {
		if l == "COPY templates/ /opt/studio/templates/" {
			want[i] = "COPY --from=templates /opt/studio/templates/ /opt/studio/templates/"
		}
	}
	got := afterFrom(t, "runtime.Dockerfile", 2)
	if !slices.Equal(got, want) {
		t.Errorf("runtime.Dockerfile's final stage:\n%s\nwant (containers/image/Dockerfile):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLocalCA runs deploy/local-ca and checks, with openssl itself, that
// the certificate it makes is valid for the UI host and for any preview
// host, and for nothing else.
func TestLocalCA(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("skipping: no openssl to run deploy/local-ca with")
	}
	out := t.TempDir()
	const ui, preview = "studio.example.test", "preview-example.test"
	run := func() {
		cmd := exec.Command("./local-ca", "--out", out, ui, preview)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("local-ca: %v\n%s", err, b)
		}
	}
	run()
	ca, err := os.ReadFile(filepath.Join(out, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(host string) error {
		return exec.Command("openssl", "verify", "-CAfile", filepath.Join(out, "ca.crt"),
			"-purpose", "sslserver", "-verify_hostname", host, filepath.Join(out, "studio.crt")).Run()
	}
	for _, host := range []string{ui, "my-app." + preview, "x1." + preview} {
		if err := verify(host); err != nil {
			t.Errorf("openssl verify for %s: %v", host, err)
		}
	}
	for _, host := range []string{"other.example.test", "a.b." + preview, preview, "studio.preview-example.test.evil"} {
		if verify(host) == nil {
			t.Errorf("the certificate is valid for %s too", host)
		}
	}
	for name, mode := range map[string]os.FileMode{"ca.key": 0o600, "studio.key": 0o600} {
		if info, err := os.Stat(filepath.Join(out, name)); err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %o", name, info.Mode(), err, mode)
		}
	}

	// A second run keeps the CA (a browser that trusts it keeps working)
	// and makes a new server certificate.
	run()
	if again, _ := os.ReadFile(filepath.Join(out, "ca.crt")); string(again) != string(ca) {
		t.Error("a second run replaced the CA")
	}
	if err := verify(ui); err != nil {
		t.Errorf("after a second run: %v", err)
	}

	// tls.yml names the files where docker-compose.local-ca.yml mounts them.
	p := loadCompose(t, composeVariants["local-ca"], withOperatorSettings(exampleEnv(t)))
	mount := ""
	for _, v := range p.Services["traefik"].Volumes {
		if strings.HasSuffix(filepath.ToSlash(v.Source), "/certs") {
			mount = v.Target
		}
	}
	if mount == "" {
		t.Fatal("docker-compose.local-ca.yml does not mount ./certs into traefik")
	}
	tls, err := os.ReadFile(filepath.Join(out, "tls.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files := regexp.MustCompile(`(certFile|keyFile): (\S+)`).FindAllStringSubmatch(string(tls), -1)
	if len(files) == 0 {
		t.Fatalf("tls.yml names no certificate:\n%s", tls)
	}
	for _, f := range files {
		rel, ok := strings.CutPrefix(f[2], mount+"/")
		if !ok {
			t.Errorf("tls.yml: %s is not under %s, where the certificates are mounted", f[2], mount)
			continue
		}
		if _, err := os.Stat(filepath.Join(out, rel)); err != nil {
			t.Errorf("tls.yml: %s: %v", f[1], err)
		}
	}
	if !slices.Contains(p.Services["traefik"].Command, "--providers.file.filename="+mount+"/tls.yml") {
		t.Errorf("traefik's command does not load %s/tls.yml: %v", mount, p.Services["traefik"].Command)
	}
}

func withOperatorSettings(env map[string]string) map[string]string {
	for k, v := range operatorSettings {
		env[k] = v
	}
	return env
}

// exampleEnv reads .env.example as docker compose reads .env.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf(".env.example: %q is not NAME=value", line)
		}
		env[k] = v
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func loadCompose(t *testing.T, files []string, env map[string]string) *types.Project {
	t.Helper()
	p, err := composeProject(t, files, env)
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p
}

// composeProject loads the files as `docker compose -f … up` would, with
// env as the .env file and nothing from this process's environment.
func composeProject(t *testing.T, files []string, env map[string]string) (*types.Project, error) {
	t.Helper()
	var dotenv strings.Builder
	for k, v := range env {
		dotenv.WriteString(k + "=" + v + "\n")
	}
	envFile := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(envFile, []byte(dotenv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(wd),
		cli.WithEnvFiles(envFile),
		cli.WithDotEnv,
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func checkServices(t *testing.T, p *types.Project) {
	t.Helper()
	want := []string{"postgres", "runtime", "studio", "studio-docker", "traefik", "traefik-docker"}
	if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for name, s := range p.Services {
		if s.Privileged {
			t.Errorf("%s is privileged", name)
		}
		if s.Pid == "host" || s.NetworkMode == "host" || s.Ipc == "host" {
			t.Errorf("%s shares a host namespace (pid %q, network %q, ipc %q)", name, s.Pid, s.NetworkMode, s.Ipc)
		}
	}
}

// checkDockerSocket: the Docker socket is mounted into the two proxies
// only, read-only.
func checkDockerSocket(t *testing.T, p *types.Project) {
	t.Helper()
	for name, s := range p.Services {
		proxy := name == "traefik-docker" || name == "studio-docker"
		mounted := false
		for _, v := range s.Volumes {
			if !strings.Contains(v.Source, "docker.sock") && !strings.Contains(v.Target, "docker.sock") {
				continue
			}
			mounted = true
			if !proxy {
				t.Errorf("%s mounts the Docker socket (%s)", name, v.Source)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts the Docker socket writable", name)
			}
		}
		if proxy && !mounted {
			t.Errorf("%s does not mount the Docker socket", name)
		}
		for k, v := range s.Environment {
			if k == "DOCKER_HOST" && v != nil && strings.HasPrefix(*v, "unix://") {
				t.Errorf("%s: DOCKER_HOST %s reaches the socket directly", name, *v)
			}
		}
	}
}

// checkNetworks: each internal network joins exactly its two services.
func checkNetworks(t *testing.T, p *types.Project) {
	t.Helper()
	members := map[string][]string{}
	for name, s := range p.Services {
		for n := range s.Networks {
			members[n] = append(members[n], name)
		}
	}
	for network, want := range map[string][]string{
		"studio-docker":  {"studio", "studio-docker"},
		"traefik-docker": {"traefik", "traefik-docker"},
		"db":             {"postgres", "studio"},
		"edge":           {"studio", "traefik"},
	} {
		if got := slices.Sorted(slices.Values(members[network])); !slices.Equal(got, want) {
			t.Errorf("network %s joins %v, want only %v", network, got, want)
		}
		n, ok := p.Networks[network]
		if !ok {
			t.Errorf("network %s is not declared", network)
			continue
		}
		if internal := network != "edge"; n.Internal != internal {
			t.Errorf("network %s: internal %v, want %v", network, n.Internal, internal)
		}
	}
	if p.Services["runtime"].NetworkMode != "none" {
		t.Errorf("runtime: network_mode %q, want none", p.Services["runtime"].NetworkMode)
	}
}

// proxyRules is a socket proxy's configuration from its command line:
// wollomatic/socket-proxy takes one -allow<METHOD>=<regexp> per method and
// allows a request when ^<regexp>$ matches its path.
type proxyRules struct {
	allow      map[string]*regexp.Regexp
	from       string
	bindMounts string
}

func socketProxy(t *testing.T, s types.ServiceConfig) proxyRules {
	t.Helper()
	r := proxyRules{allow: map[string]*regexp.Regexp{}}
	for _, arg := range s.Command {
		name, value, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch {
		case name == "allowfrom":
			r.from = value
		case name == "allowbindmountfrom":
			r.bindMounts = value
		case strings.HasPrefix(name, "allow") && name != "allowhealthcheck":
			method := strings.TrimPrefix(name, "allow")
			if method != strings.ToUpper(method) {
				t.Errorf("%s: unknown flag %s", s.Name, arg)
				continue
			}
			if _, dup := r.allow[method]; dup {
				t.Errorf("%s: %s is allowed twice; keep one pattern per method", s.Name, method)
			}
			re, err := regexp.Compile("^" + value + "$")
			if err != nil {
				t.Errorf("%s: %s: %v", s.Name, arg, err)
				continue
			}
			r.allow[method] = re
		}
	}
	return r
}

func (r proxyRules) allows(method, path string) bool {
	re, ok := r.allow[method]
	return ok && re.MatchString(path)
}

// checkTraefikProxy: Traefik's proxy allows reading, and only what the
// Docker provider reads.
func checkTraefikProxy(t *testing.T, p *types.Project) {
	t.Helper()
	r := socketProxy(t, p.Services["traefik-docker"])
	for method := range r.allow {
		if method != "GET" && method != "HEAD" {
			t.Errorf("traefik-docker allows %s; Traefik only reads", method)
		}
	}
	if r.from != "traefik" {
		t.Errorf("traefik-docker admits %q, want only traefik", r.from)
	}
	for _, req := range [][2]string{
		{"HEAD", "/_ping"}, {"GET", "/_ping"}, {"GET", "/v1.41/version"}, {"GET", "/v1.41/containers/json"},
		{"GET", "/v1.41/containers/0123abcd/json"}, {"GET", "/v1.41/events"}, {"GET", "/v1.41/networks/studio-edge"},
	} {
		if !r.allows(req[0], req[1]) {
			t.Errorf("traefik-docker refuses %s %s, which Traefik's Docker provider needs", req[0], req[1])
		}
	}
	for _, req := range [][2]string{
		{"GET", "/v1.41/containers/0123abcd/logs"}, {"GET", "/v1.41/containers/0123abcd/archive"},
		{"GET", "/v1.41/info"}, {"GET", "/v1.41/images/json"}, {"GET", "/v1.41/secrets"},
		{"GET", "/v1.41/containers/0123abcd/json/../../info"}, {"GET", "/v1.41/version?x=/containers/json"},
	} {
		if r.allows(req[0], req[1]) {
			t.Errorf("traefik-docker allows %s %s", req[0], req[1])
		}
	}
}

// checkStudioProxy: studio's proxy allows the calls containers/docker*.go
// makes and none of the ones that would hand out more of the host.
func checkStudioProxy(t *testing.T, p *types.Project, env map[string]string) {
	t.Helper()
	r := socketProxy(t, p.Services["studio-docker"])
	if r.from != "studio" {
		t.Errorf("studio-docker admits %q, want only studio", r.from)
	}
	if want := env["STUDIO_DATA"] + "/projects"; r.bindMounts != want {
		t.Errorf("studio-docker allows bind mounts from %q, want only %s (studio's projects folder)", r.bindMounts, want)
	}
	const id, net, exec = "studio-3f6c1a2e-1111-4222-8333-944455556666", "studio-3f6c1a2e-1111-4222-8333-944455556666", "8d1e4f0a9b"
	for _, req := range [][2]string{
		{"HEAD", "/_ping"}, {"GET", "/_ping"}, {"GET", "/v1.41/_ping"}, {"GET", "/v1.41/version"},
		{"GET", "/v1.41/events"},
		{"GET", "/v1.41/containers/json"}, {"POST", "/v1.41/containers/create"},
		{"GET", "/v1.41/containers/" + id + "/json"}, {"POST", "/v1.41/containers/" + id + "/start"},
		{"POST", "/v1.41/containers/" + id + "/stop"}, {"DELETE", "/v1.41/containers/" + id},
		{"GET", "/v1.41/containers/" + id + "/logs"}, {"GET", "/v1.41/containers/" + id + "/stats"},
		{"POST", "/v1.41/containers/" + id + "/exec"}, {"POST", "/v1.41/exec/" + exec + "/start"},
		{"GET", "/v1.41/exec/" + exec + "/json"},
		{"GET", "/v1.41/networks"}, {"POST", "/v1.41/networks/create"}, {"GET", "/v1.41/networks/" + net},
		{"POST", "/v1.41/networks/" + net + "/connect"}, {"POST", "/v1.41/networks/" + net + "/disconnect"},
		{"DELETE", "/v1.41/networks/" + net},
		{"GET", "/v1.41/images/" + env["STUDIO_RUNTIME_IMAGE"] + "/json"},
		{"GET", "/v1.41/images/registry.example.com:5000/team/studio-runtime:1/json"},
	} {
		if !r.allows(req[0], req[1]) {
			t.Errorf("studio-docker refuses %s %s, which studio makes", req[0], req[1])
		}
	}
	for _, req := range [][2]string{
		{"POST", "/v1.41/build"}, {"POST", "/v1.41/images/create"}, {"DELETE", "/v1.41/images/studio-runtime:1"},
		{"POST", "/v1.41/images/studio-runtime:1/push"}, {"POST", "/v1.41/volumes/create"}, {"GET", "/v1.41/volumes"},
		{"POST", "/v1.41/swarm/init"}, {"GET", "/v1.41/plugins"}, {"POST", "/v1.41/plugins/pull"},
		{"GET", "/v1.41/system/df"}, {"POST", "/v1.41/containers/prune"}, {"POST", "/v1.41/networks/prune"},
		{"POST", "/v1.41/containers/" + id + "/update"}, {"POST", "/v1.41/containers/" + id + "/kill"},
		{"PUT", "/v1.41/containers/" + id + "/archive"}, {"GET", "/v1.41/containers/" + id + "/archive"},
		{"GET", "/v1.41/containers/" + id + "/export"}, {"POST", "/v1.41/containers/" + id + "/attach"},
		{"POST", "/v1.41/containers/" + id + "/commit"}, {"POST", "/v1.41/commit"},
		{"POST", "/v1.41/session"}, {"GET", "/v1.41/secrets"}, {"GET", "/v1.41/info"},
		{"POST", "/v1.41/exec/" + exec + "/resize/../../../build"},
	} {
		if r.allows(req[0], req[1]) {
			t.Errorf("studio-docker allows %s %s", req[0], req[1])
		}
	}
}

// checkStudio: what studio is given, read back through studio's own
// settings, so names and values are the ones studio really uses.
func checkStudio(t *testing.T, p *types.Project, env map[string]string) {
	t.Helper()
	s := p.Services["studio"]
	studioEnv := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			studioEnv[k] = *v
		}
	}
	// The image's own settings (deploy/Dockerfile), under the service's.
	image := dockerfileEnv(t, "Dockerfile")
	for k, v := range image {
		if _, ok := studioEnv[k]; !ok {
			studioEnv[k] = v
		}
	}
	cfg, err := config.Load("serve", nil, func(k string) string { return studioEnv[k] }, io.Discard)
	if err != nil {
		t.Fatalf("studio refuses the compose settings: %v", err)
	}
	checkKnownSettings(t, studioEnv)

	if s.Deploy == nil || s.Deploy.Replicas == nil || *s.Deploy.Replicas < 2 {
		t.Errorf("studio replicas %v, want at least 2", s.Deploy)
	}
	if s.ContainerName != "" {
		t.Errorf("studio has container_name %q, which allows one replica only", s.ContainerName)
	}
	if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" || filepath.Clean(s.Build.Context) != filepath.Clean(mustAbs(t, "..")) {
		t.Errorf("studio build %+v, want deploy/Dockerfile in the repository root", s.Build)
	}
	if cfg.Router != "traefik" {
		t.Errorf("STUDIO_ROUTER %q, want traefik", cfg.Router)
	}
	if !strings.HasPrefix(cfg.PublicURL(), "https://") || cfg.UIHost() != env["STUDIO_HOST"] {
		t.Errorf("studio's public URL %s, want https://%s", cfg.PublicURL(), env["STUDIO_HOST"])
	}
	if cfg.PreviewDomain != env["STUDIO_PREVIEW_DOMAIN"] {
		t.Errorf("STUDIO_PREVIEW_DOMAIN %q, want %q", cfg.PreviewDomain, env["STUDIO_PREVIEW_DOMAIN"])
	}
	if cfg.EmbeddedDatabase() {
		t.Error("studio would start an embedded database")
	}
	if u, err := url.Parse(cfg.DatabaseURL); err != nil || u.Hostname() != "postgres" {
		t.Errorf("STUDIO_DATABASE_URL %q does not name the postgres service", cfg.DatabaseURL)
	}
	if studioEnv["DOCKER_HOST"] != "tcp://studio-docker:2375" {
		t.Errorf("DOCKER_HOST %q, want studio's socket proxy, tcp://studio-docker:2375", studioEnv["DOCKER_HOST"])
	}

	// The data folder: one bind mount, the same path on both sides.
	data := cfg.DataDir()
	found := false
	for _, v := range s.Volumes {
		if v.Target != data {
			continue
		}
		found = true
		if v.Type != types.VolumeTypeBind || v.Source != data {
			t.Errorf("STUDIO_DATA %s is mounted from %s %q; it must be a bind mount of the same host path (the engine bind-mounts project folders by host path)", data, v.Type, v.Source)
		}
		if v.ReadOnly {
			t.Errorf("STUDIO_DATA %s is mounted read-only", data)
		}
	}
	if !found {
		t.Errorf("STUDIO_DATA %s is not mounted (volumes %+v)", data, s.Volumes)
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("studio: read_only %v, cap_drop %v; want a read-only root and no capabilities", s.ReadOnly, s.CapDrop)
	}

	// Trusted proxies: exactly Traefik's fixed address.
	traefikIP := p.Services["traefik"].Networks["edge"].Ipv4Address
	if traefikIP == "" {
		t.Fatal("traefik has no fixed address on edge")
	}
	if len(cfg.TrustedProxies) != 1 || cfg.TrustedProxies[0].String() != traefikIP+"/32" {
		t.Errorf("STUDIO_TRUSTED_PROXIES %v, want only traefik's %s", cfg.TrustedProxies, traefikIP)
	}
	inSubnet := false
	for _, pool := range p.Networks["edge"].Ipam.Config {
		if _, n, err := net.ParseCIDR(pool.Subnet); err == nil && n.Contains(net.ParseIP(traefikIP)) {
			inSubnet = true
		}
	}
	if !inSubnet {
		t.Errorf("traefik's address %s is outside the edge network's subnet %+v", traefikIP, p.Networks["edge"].Ipam.Config)
	}

	// The names studio gives Traefik.
	if got, want := studioEnv["STUDIO_TRAEFIK_CONTAINER"], p.Services["traefik"].ContainerName; got != want || want == "" {
		t.Errorf("STUDIO_TRAEFIK_CONTAINER %q, traefik's container_name %q", got, want)
	}
	if got := studioEnv["STUDIO_TRAEFIK_SERVICE"]; got != "studio@docker" {
		t.Errorf("STUDIO_TRAEFIK_SERVICE %q, want studio@docker (the studio service of the labels, docker provider)", got)
	}
	auth, err := url.Parse(studioEnv["STUDIO_TRAEFIK_AUTH_URL"])
	_, port, _ := net.SplitHostPort(cfg.Addr)
	if err != nil || auth.Scheme != "http" || auth.Hostname() != "studio" || auth.Port() != port || auth.Path != "/__studio/forward-auth" {
		t.Errorf("STUDIO_TRAEFIK_AUTH_URL %q, want http://studio:%s/__studio/forward-auth", studioEnv["STUDIO_TRAEFIK_AUTH_URL"], port)
	}
	entry := studioEnv["STUDIO_TRAEFIK_ENTRYPOINTS"]
	if !slices.ContainsFunc(p.Services["traefik"].Command, func(a string) bool {
		return strings.HasPrefix(strings.ToLower(a), "--entrypoints."+entry+".address=")
	}) {
		t.Errorf("STUDIO_TRAEFIK_ENTRYPOINTS %q is not an entry point of traefik's", entry)
	}

	for dep, cond := range map[string]string{
		"postgres":      types.ServiceConditionHealthy,
		"studio-docker": types.ServiceConditionStarted,
		"runtime":       types.ServiceConditionCompletedSuccessfully,
	} {
		if d, ok := s.DependsOn[dep]; !ok || d.Condition != cond {
			t.Errorf("studio depends on %s: %+v, want condition %s", dep, d, cond)
		}
	}
}

// checkKnownSettings: every STUDIO_* variable given to studio is one of its
// settings. STUDIO_TRAEFIK_* are checked once studio knows any of them.
func checkKnownSettings(t *testing.T, env map[string]string) {
	t.Helper()
	var help strings.Builder
	config.Help(&help)
	known := regexp.MustCompile(`STUDIO_[A-Z0-9_]+`).FindAllString(help.String(), -1)
	traefikKnown := slices.ContainsFunc(known, func(s string) bool { return strings.HasPrefix(s, "STUDIO_TRAEFIK_") })
	for k := range env {
		if !strings.HasPrefix(k, "STUDIO_") || slices.Contains(known, k) {
			continue
		}
		if strings.HasPrefix(k, "STUDIO_TRAEFIK_") && !traefikKnown {
			continue
		}
		t.Errorf("studio has no setting %s", k)
	}
}

func checkPostgres(t *testing.T, p *types.Project) {
	t.Helper()
	s := p.Services["postgres"]
	found := false
	for _, v := range s.Volumes {
		if v.Target == "/var/lib/postgresql/data" {
			found = true
			if v.Type != types.VolumeTypeVolume {
				t.Errorf("postgres data is a %s mount, want a named volume", v.Type)
			} else if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("postgres data volume %q is not declared", v.Source)
			}
		}
	}
	if !found {
		t.Error("postgres keeps its data in the container: no volume at /var/lib/postgresql/data")
	}
	if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 || s.HealthCheck.Disable {
		t.Error("postgres has no health check (studio waits for it to be healthy)")
	}
	if len(s.Ports) > 0 {
		t.Errorf("postgres publishes %v", s.Ports)
	}
}

func checkRuntime(t *testing.T, p *types.Project) {
	t.Helper()
	r := p.Services["runtime"]
	studioImage := p.Services["studio"].Environment["STUDIO_RUNTIME_IMAGE"]
	if studioImage == nil || r.Image != *studioImage {
		t.Errorf("runtime builds %q, studio runs projects on %v", r.Image, studioImage)
	}
	if r.PullPolicy != types.PullPolicyBuild || p.Services["studio"].PullPolicy != types.PullPolicyBuild {
		t.Errorf("pull_policy runtime %q, studio %q; want build: their images are built here and never pulled", r.PullPolicy, p.Services["studio"].PullPolicy)
	}
	if r.Build == nil || filepath.Clean(r.Build.Context) != filepath.Clean(mustAbs(t, "../containers/image")) {
		t.Errorf("runtime build %+v, want the context containers/image", r.Build)
	}
}

// checkTraefik: the static configuration on traefik's command line.
func checkTraefik(t *testing.T, p *types.Project, env map[string]string, variant string) {
	t.Helper()
	s := p.Services["traefik"]
	if !strings.HasPrefix(s.Image, "traefik:v3.") {
		t.Errorf("traefik image %q, want an official traefik:v3.x", s.Image)
	}
	flags := map[string]string{}
	for _, a := range s.Command {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[strings.ToLower(k)] = v
	}
	for k, want := range map[string]string{
		"providers.docker.endpoint":                       "tcp://traefik-docker:2375",
		"providers.docker.exposedbydefault":               "false",
		"providers.docker.network":                        p.Networks["edge"].Name,
		"entrypoints.web.address":                         ":80",
		"entrypoints.web.http.redirections.entrypoint.to": "websecure",
		"entrypoints.websecure.address":                   ":443",
		"ping":                                            "true",
	} {
		if flags[k] != want {
			t.Errorf("traefik --%s=%q, want %q", k, flags[k], want)
		}
	}
	for k := range flags {
		if strings.HasPrefix(k, "api") {
			t.Errorf("traefik enables its API/dashboard (--%s)", k)
		}
	}
	if !slices.Contains(s.CapAdd, "NET_BIND_SERVICE") || !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("traefik: cap_drop %v, cap_add %v; want none but NET_BIND_SERVICE (ports 80 and 443)", s.CapDrop, s.CapAdd)
	}
	if d := flags["serverstransport.forwardingtimeouts.dialtimeout"]; d == "" || d == "0" {
		t.Error("traefik has no dial timeout: a stopped project's address would hang ~30 s")
	}
	switch variant {
	case "acme":
		resolver := flags["entrypoints.websecure.http.tls.certresolver"]
		if resolver == "" {
			t.Fatal("websecure has no certificate resolver")
		}
		for k, want := range map[string]string{
			"entrypoints.websecure.http.tls.domains[0].main": env["STUDIO_HOST"],
			"entrypoints.websecure.http.tls.domains[0].sans": "*." + env["STUDIO_PREVIEW_DOMAIN"],
		} {
			if flags[k] != want {
				t.Errorf("traefik --%s=%q, want %q", k, flags[k], want)
			}
		}
		prefix := "certificatesresolvers." + resolver + ".acme."
		if flags[prefix+"dnschallenge.provider"] == "" || flags[prefix+"email"] != env["ACME_EMAIL"] {
			t.Errorf("resolver %s: DNS challenge provider %q, email %q", resolver, flags[prefix+"dnschallenge.provider"], flags[prefix+"email"])
		}
		storage := flags[prefix+"storage"]
		onVolume := slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && strings.HasPrefix(storage, v.Target+"/")
		})
		if !onVolume {
			t.Errorf("ACME storage %q is not on a volume: certificates would be asked for again on every restart", storage)
		}
	case "local-ca":
		base := loadCompose(t, composeVariants["acme"], env).Services["traefik"].Command
		acmeOnly := func(a string) bool {
			l := strings.ToLower(a)
			return strings.HasPrefix(l, "--certificatesresolvers.") || strings.HasPrefix(l, "--entrypoints.websecure.http.tls.")
		}
		var want []string
		for _, a := range base {
			if !acmeOnly(a) {
				want = append(want, a)
			}
		}
		want = append(want, "--entryPoints.websecure.http.tls=true")
		var got []string
		for _, a := range s.Command {
			if !strings.HasPrefix(a, "--providers.file.") {
				got = append(got, a)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("the local-CA traefik command differs from the base beyond TLS:\n got %v\nwant %v", got, want)
		}
	}
}

// checkStudioLabels: studio's own routes, as Traefik v3's Docker provider
// reads them.
func checkStudioLabels(t *testing.T, p *types.Project, env map[string]string) {
	t.Helper()
	l := p.Services["studio"].Labels
	ui, preview := env["STUDIO_HOST"], env["STUDIO_PREVIEW_DOMAIN"]
	for k, want := range map[string]string{
		"traefik.enable":                                             "true",
		"traefik.docker.network":                                     p.Networks["edge"].Name,
		"traefik.http.routers.studio.rule":                           "Host(`" + ui + "`)",
		"traefik.http.routers.studio.entrypoints":                    "websecure",
		"traefik.http.routers.studio.service":                        "studio",
		"traefik.http.routers.studio-previews.priority":              "1",
		"traefik.http.routers.studio-previews.entrypoints":           "websecure",
		"traefik.http.routers.studio-previews.service":               "studio",
		"traefik.http.services.studio.loadbalancer.server.port":      "8080",
		"traefik.http.services.studio.loadbalancer.healthcheck.path": "/readyz",
	} {
		if l[k] != want {
			t.Errorf("label %s=%q, want %q", k, l[k], want)
		}
	}
	for _, k := range []string{"interval", "timeout"} {
		if l["traefik.http.services.studio.loadbalancer.healthcheck."+k] == "" {
			t.Errorf("the studio service's health check has no %s", k)
		}
	}
	rule := l["traefik.http.routers.studio-previews.rule"]
	m := regexp.MustCompile("^HostRegexp\\(`(.*)`\\)$").FindStringSubmatch(rule)
	if m == nil {
		t.Fatalf("studio-previews rule %q, want HostRegexp(`…`)", rule)
	}
	re, err := regexp.Compile(m[1]) // Traefik compiles it with Go's regexp as it is
	if err != nil {
		t.Fatalf("studio-previews rule %q: %v", rule, err)
	}
	for _, host := range []string{"my-app." + preview, "x1." + preview} {
		if !re.MatchString(host) {
			t.Errorf("studio-previews rule %q does not match %s", rule, host)
		}
	}
	dotless := strings.ReplaceAll(preview, ".", "x")
	for _, host := range []string{ui, preview, "a.b." + preview, "my-app." + dotless, "my-app." + preview + ".evil.test", "My_App." + preview} {
		if re.MatchString(host) {
			t.Errorf("studio-previews rule %q matches %s", rule, host)
		}
	}
}

// afterFrom returns a Dockerfile's instructions after its n-th FROM line,
// one per line (continuations joined), without comments.
func afterFrom(t *testing.T, path string, n int) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := 0
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			seen++
			continue
		}
		if seen == n {
			out = append(out, line)
		}
	}
	return out
}

// dockerfileEnv returns the ENV settings of a Dockerfile's last stage.
func dockerfileEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range afterFrom(t, path, strings.Count(readFile(t, path), "\nFROM ")) {
		rest, ok := strings.CutPrefix(line, "ENV ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	return env
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
