// Package config owns studio's settings: one struct filled from STUDIO_*
// environment variables and command-line flags, with defaults that run on a
// laptop, validated before anything starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"studio/containers/image"
	"studio/netguard"
)

// Config is every setting studio reads at start.
type Config struct {
	Addr               string        // STUDIO_ADDR: where the web server listens
	Data               string        // STUDIO_DATA: project files, embedded database, key file
	DatabaseURL        string        // STUDIO_DATABASE_URL: external PostgreSQL; empty = embedded
	Domain             string        // STUDIO_DOMAIN: the UI's host name by default
	PreviewDomain      string        // STUDIO_PREVIEW_DOMAIN: previews are served on {slug}.{PreviewDomain}
	BaseURL            string        // STUDIO_BASE_URL: the public address of the UI
	SecretKey          string        // STUDIO_SECRET_KEY: signs tokens, encrypts credentials
	PreviousKeys       string        // STUDIO_PREVIOUS_SECRET_KEYS: old keys during a rotation
	Runtime            string        // STUDIO_RUNTIME: docker | kubernetes
	RuntimeImage       string        // STUDIO_RUNTIME_IMAGE: the image project containers run; empty = the one this studio builds
	KubeNamespace      string        // STUDIO_KUBE_NAMESPACE: studio's own namespace in kubernetes mode
	KubeProjectsClaim  string        // STUDIO_KUBE_PROJECTS_CLAIM: the ReadWriteMany claim holding every project's files
	Router             string        // STUDIO_ROUTER: builtin | traefik
	TraefikAuthURL     string        // STUDIO_TRAEFIK_AUTH_URL: where Traefik asks studio whether a preview request may pass
	TraefikEntryPoints string        // STUDIO_TRAEFIK_ENTRYPOINTS: Traefik entry points of the project routers, comma-separated
	TraefikService     string        // STUDIO_TRAEFIK_SERVICE: Traefik's name for studio's own service (error pages)
	TraefikContainer   string        // STUDIO_TRAEFIK_CONTAINER: the Traefik container studio attaches to each project's network
	Signup             string        // STUDIO_SIGNUP: open | invite | closed
	Marketplace        string        // STUDIO_MARKETPLACE: off | private | instance
	MarketplaceURLs    string        // STUDIO_MARKETPLACE_URLS: remote catalogue indexes, comma-separated; see MarketplaceURLList
	IdleTimeout        time.Duration // STUDIO_IDLE_TIMEOUT: hibernate projects idle this long
	TerminalIdle       time.Duration // STUDIO_TERMINAL_IDLE: hang up workspace terminals unused this long
	PauseAfter         string        // STUDIO_PAUSE_AFTER: freeze the containers of projects idle this long; see PauseDelay
	PoolSize           string        // STUDIO_POOL_SIZE: warm pool slots per template; see PoolSizes
	Instance           string        // STUDIO_INSTANCE: labels the containers this installation owns; empty = generated
	MaxProjects        int           // STUDIO_MAX_PROJECTS: projects per user
	MaxRunning         int           // STUDIO_MAX_RUNNING: running projects per user
	MaxFileSize        int64         // STUDIO_MAX_FILE_SIZE: largest project file written through studio
	ProjectDisk        int64         // STUDIO_PROJECT_DISK: most a project's folder may take; 0 = no limit
	TemplateMaxSize    int64         // STUDIO_TEMPLATE_MAX_SIZE: most a template's files (and its bundle) may take
	ImportMaxSize      int64         // STUDIO_IMPORT_MAX_SIZE: most an imported project's files (and its zip) may take
	Memory             int64         // STUDIO_CONTAINER_MEMORY: memory per project container
	CPUs               float64       // STUDIO_CONTAINER_CPUS: CPUs per project container
	Pids               int64         // STUDIO_CONTAINER_PIDS: processes per project container
	MaxBody            int64         // STUDIO_MAX_BODY: largest request body in bytes
	MaxStreamsPerUser  int           // STUDIO_MAX_STREAMS_PER_USER: open event streams per user on one replica
	PGBin              string        // STUDIO_PG_BIN: PostgreSQL server binaries for the embedded database
	PGUser             string        // STUDIO_PG_USER: system user that runs the embedded database when studio runs as root
	LogLevel           string        // STUDIO_LOG_LEVEL: debug | info | warn | error
	LogFormat          string        // STUDIO_LOG_FORMAT: text | json

	// STUDIO_TRUSTED_PROXIES: only a peer inside one of these ranges is
	// believed about the client's address in X-Forwarded-For.
	TrustedProxies []*net.IPNet

	AgentMaxSteps     int           // STUDIO_AGENT_MAX_STEPS: model turns per run
	AgentMaxTokens    int           // STUDIO_AGENT_MAX_TOKENS: input+output tokens per run
	AgentMaxTime      time.Duration // STUDIO_AGENT_MAX_TIME: wall time per run
	AgentMaxCost      float64       // STUDIO_AGENT_MAX_COST: USD per run
	AgentMaxTurnBytes int64         // STUDIO_AGENT_MAX_TURN_BYTES: streamed text and tool arguments per model turn
	AgentMaxRunBytes  int64         // STUDIO_AGENT_MAX_RUN_BYTES: streamed text and tool arguments per run
	AgentPrices       string        // STUDIO_AGENT_PRICES: model=input/output USD per million tokens, comma-separated
	DefaultModel      string        // STUDIO_DEFAULT_MODEL: provider/model used when a run names none

	// Instance-wide provider settings, used by users who have none of their own.
	OpenAIKey     string // STUDIO_OPENAI_API_KEY
	AnthropicKey  string // STUDIO_ANTHROPIC_API_KEY
	GeminiKey     string // STUDIO_GEMINI_API_KEY
	OllamaURL     string // STUDIO_OLLAMA_URL
	CompatibleURL string // STUDIO_OPENAI_COMPATIBLE_URL
	CompatibleKey string // STUDIO_OPENAI_COMPATIBLE_API_KEY

	// Where provider calls may go. First-party providers use their official
	// endpoints unless the administrator names another; a person's own base
	// URL exists only for ollama and openai_compatible.
	OpenAIBaseURL    string // STUDIO_OPENAI_BASE_URL
	AnthropicBaseURL string // STUDIO_ANTHROPIC_BASE_URL
	GeminiBaseURL    string // STUDIO_GEMINI_BASE_URL
	ProviderAllow    string // STUDIO_PROVIDER_ALLOW: internal addresses provider calls may reach

	// GitHub: where people connect their accounts. The OAuth web flow is
	// offered when both the client id and secret are set.
	GitHub             bool   // STUDIO_GITHUB: on | off (no GitHub pages or endpoints)
	GitHubURL          string // STUDIO_GITHUB_URL: github.com or a GitHub Enterprise server; see GitHubAPIURL
	GitHubClientID     string // STUDIO_GITHUB_CLIENT_ID
	GitHubClientSecret string // STUDIO_GITHUB_CLIENT_SECRET
}

// setting describes one variable: its name, flag, default and help line.
type setting struct {
	env, flag, def, help string
	set                  func(*Config, string) error
}

func sizeSetting(dst func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseSize(v)
		if err != nil {
			return err
		}
		*dst(c) = n
		return nil
	}
}

func intSetting(dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*dst(c) = n
		return nil
	}
}

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

var settings = []setting{
	{"STUDIO_ADDR", "addr", "127.0.0.1:8080", "address the web server listens on (host:port)",
		str(func(c *Config) *string { return &c.Addr })},
	{"STUDIO_DATA", "data", "./data", "folder for project files, the embedded database and the key file",
		str(func(c *Config) *string { return &c.Data })},
	{"STUDIO_DATABASE_URL", "database-url", "", "PostgreSQL URL (postgres://user:pass@host/db); empty starts a private embedded PostgreSQL under STUDIO_DATA/pg",
		str(func(c *Config) *string { return &c.DatabaseURL })},
	{"STUDIO_DOMAIN", "domain", "studio.localhost", "host name of the UI when STUDIO_BASE_URL is empty, and of previews when STUDIO_PREVIEW_DOMAIN is",
		str(func(c *Config) *string { return &c.Domain })},
	{"STUDIO_PREVIEW_DOMAIN", "preview-domain", "", "previews are served on {project}.STUDIO_PREVIEW_DOMAIN; in production a registrable domain of its own (default: STUDIO_DOMAIN)",
		str(func(c *Config) *string { return &c.PreviewDomain })},
	{"STUDIO_BASE_URL", "base-url", "", "public address of the UI (default http://STUDIO_DOMAIN:port); https here makes cookies Secure",
		str(func(c *Config) *string { return &c.BaseURL })},
	{"STUDIO_SECRET_KEY", "secret-key", "", "key that signs tokens and encrypts credentials (32+ chars); empty = generated key file in STUDIO_DATA",
		str(func(c *Config) *string { return &c.SecretKey })},
	{"STUDIO_PREVIOUS_SECRET_KEYS", "previous-secret-keys", "", "during a key rotation: the old STUDIO_SECRET_KEY values, comma-separated, which still decrypt",
		str(func(c *Config) *string { return &c.PreviousKeys })},
	{"STUDIO_RUNTIME", "runtime", "docker", "where projects run: docker | kubernetes",
		str(func(c *Config) *string { return &c.Runtime })},
	{"STUDIO_RUNTIME_IMAGE", "runtime-image", "", "the image every project container runs; empty = the one `go tool task image` builds (studio-runtime:<tag>); in kubernetes mode, a name the cluster can pull",
		str(func(c *Config) *string { return &c.RuntimeImage })},
	{"STUDIO_KUBE_NAMESPACE", "kube-namespace", "", "kubernetes mode: studio's own namespace, whose studio pods alone may reach the projects' dev servers (default: the pod's namespace in a cluster, else studio)",
		str(func(c *Config) *string { return &c.KubeNamespace })},
	{"STUDIO_KUBE_PROJECTS_CLAIM", "kube-projects-claim", "studio-projects", "kubernetes mode: the ReadWriteMany PersistentVolumeClaim in studio's namespace that holds every project's files and checkpoints, mounted at STUDIO_DATA (the pods see projects/<id>)",
		str(func(c *Config) *string { return &c.KubeProjectsClaim })},
	{"STUDIO_ROUTER", "router", "builtin", "who routes preview hosts: builtin (studio's own proxy) | traefik",
		str(func(c *Config) *string { return &c.Router })},
	{"STUDIO_TRAEFIK_AUTH_URL", "traefik-auth-url", "", "router traefik: the address Traefik's ForwardAuth middleware calls to ask studio whether a preview request may pass, e.g. http://studio:8080/__studio/forward-auth",
		str(func(c *Config) *string { return &c.TraefikAuthURL })},
	{"STUDIO_TRAEFIK_ENTRYPOINTS", "traefik-entrypoints", "web", "router traefik: the Traefik entry points (comma-separated) that serve previews",
		str(func(c *Config) *string { return &c.TraefikEntryPoints })},
	{"STUDIO_TRAEFIK_SERVICE", "traefik-service", "studio@docker", "router traefik: Traefik's name for studio's own service, which answers for a project whose dev server is down",
		str(func(c *Config) *string { return &c.TraefikService })},
	{"STUDIO_TRAEFIK_CONTAINER", "traefik-container", "", "router traefik: name of the Traefik container, which studio connects to each project's own network (empty: Traefik reaches the networks from the host)",
		str(func(c *Config) *string { return &c.TraefikContainer })},
	{"STUDIO_TRUSTED_PROXIES", "trusted-proxies", "", "reverse proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For names the client; empty = trust none and use the peer address",
		func(c *Config, v string) error {
			nets, err := parseRanges(v)
			c.TrustedProxies = nets
			return err
		}},
	{"STUDIO_SIGNUP", "signup", "open", "who may create an account: open | invite | closed",
		str(func(c *Config) *string { return &c.Signup })},
	{"STUDIO_MARKETPLACE", "marketplace", "instance", "what users may publish: instance (agents visible to every user of this instance) | private (only their own private agents) | off (no publishing, only built-in agents)",
		str(func(c *Config) *string { return &c.Marketplace })},
	{"STUDIO_MARKETPLACE_URLS", "marketplace-urls", "", "remote marketplace catalogues: http(s) addresses of catalogue indexes (studio-catalogue JSON files on any web server), comma-separated; fetched through the same guard as provider calls (STUDIO_PROVIDER_ALLOW)",
		str(func(c *Config) *string { return &c.MarketplaceURLs })},
	{"STUDIO_IDLE_TIMEOUT", "idle-timeout", "30m", "hibernate a project after this long without activity (Go duration; 0 = never)",
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 30m or 1h", v)
			}
			c.IdleTimeout = d
			return nil
		}},
	{"STUDIO_TERMINAL_IDLE", "terminal-idle", "30m", "hang up a workspace terminal whose shell neither read nor printed anything for this long (Go duration; 0 = never)",
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%q is not a duration such as 30m or 1h", v)
			}
			c.TerminalIdle = d
			return nil
		}},
	{"STUDIO_PAUSE_AFTER", "pause-after", "", "pause (freeze) a project's container after this long without activity, before STUDIO_IDLE_TIMEOUT hibernates it; any request thaws it at once (Go duration, at least 30s and less than STUDIO_IDLE_TIMEOUT; 0 = never); empty = 5m in docker mode with the built-in router unless STUDIO_IDLE_TIMEOUT is 5m or less (0, never hibernating, still pauses), never otherwise",
		str(func(c *Config) *string { return &c.PauseAfter })},
	{"STUDIO_POOL_SIZE", "pool-size", "", "started dev servers kept ready per template, so creating a project is instant: template=count, comma-separated (e.g. react-vite=2,static=1); 0 = none; empty = react-vite=1 in docker mode with the built-in router, none otherwise",
		str(func(c *Config) *string { return &c.PoolSize })},
	{"STUDIO_INSTANCE", "instance", "", "name of this installation, carried by every container it creates so installations sharing one Docker engine leave each other's containers alone; empty = a name generated at the first start and kept in the database",
		func(c *Config, v string) error {
			if v == "" {
				c.Instance = ""
				return nil
			}
			if !validDomain(v) || strings.Contains(v, ".") {
				return fmt.Errorf("%q must be lower-case letters, digits and hyphens", v)
			}
			c.Instance = v
			return nil
		}},
	{"STUDIO_MAX_PROJECTS", "max-projects", "20", "projects one user may keep (0 = no limit)",
		intSetting(func(c *Config) *int { return &c.MaxProjects })},
	{"STUDIO_MAX_RUNNING", "max-running", "5", "projects one user may run at once (0 = no limit)",
		intSetting(func(c *Config) *int { return &c.MaxRunning })},
	{"STUDIO_MAX_FILE_SIZE", "max-file-size", "5MiB", "largest file written through the editor, the API or an agent",
		sizeSetting(func(c *Config) *int64 { return &c.MaxFileSize })},
	{"STUDIO_PROJECT_DISK", "project-disk", "2GiB", "most disk space one project's files may take (0 = no limit); writes past it are refused and a project that grows past it is stopped",
		sizeSetting(func(c *Config) *int64 { return &c.ProjectDisk })},
	{"STUDIO_TEMPLATE_MAX_SIZE", "template-max-size", "20MiB", "most a template's files may take together, and its bundle file; larger projects cannot be saved as templates",
		sizeSetting(func(c *Config) *int64 { return &c.TemplateMaxSize })},
	{"STUDIO_IMPORT_MAX_SIZE", "import-max-size", "100MiB", "most an imported project's files may take together, and its zip file",
		sizeSetting(func(c *Config) *int64 { return &c.ImportMaxSize })},
	{"STUDIO_CONTAINER_MEMORY", "container-memory", "1GiB", "memory limit of each project container",
		sizeSetting(func(c *Config) *int64 { return &c.Memory })},
	{"STUDIO_CONTAINER_CPUS", "container-cpus", "1", "CPU limit of each project container (e.g. 0.5, 2)",
		func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || f > 64 {
				return fmt.Errorf("%q is not a number of CPUs such as 1 or 0.5", v)
			}
			c.CPUs = f
			return nil
		}},
	{"STUDIO_CONTAINER_PIDS", "container-pids", "512", "process limit of each project container",
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 16 {
				return fmt.Errorf("%q must be a whole number of at least 16", v)
			}
			c.Pids = n
			return nil
		}},
	{"STUDIO_MAX_BODY", "max-body", "8MiB", "largest request body accepted (bytes, or with KiB/MiB)",
		sizeSetting(func(c *Config) *int64 { return &c.MaxBody })},
	{"STUDIO_MAX_STREAMS_PER_USER", "max-streams-per-user", "20", "event streams (chat runs, project status, logs) one user may hold open on one replica; more get 429 (0 = no limit)",
		intSetting(func(c *Config) *int { return &c.MaxStreamsPerUser })},
	{"STUDIO_PG_BIN", "pg-bin", "", "folder with the PostgreSQL server binaries (initdb, postgres); empty = search /usr/lib/postgresql/*/bin and PATH",
		str(func(c *Config) *string { return &c.PGBin })},
	{"STUDIO_PG_USER", "pg-user", "postgres", "system user that runs the embedded PostgreSQL when studio runs as root",
		str(func(c *Config) *string { return &c.PGUser })},
	{"STUDIO_AGENT_MAX_STEPS", "agent-max-steps", "25", "model turns an agent run may take",
		intSetting(func(c *Config) *int { return &c.AgentMaxSteps })},
	{"STUDIO_AGENT_MAX_TOKENS", "agent-max-tokens", "2000000", "input plus output tokens an agent run may use",
		intSetting(func(c *Config) *int { return &c.AgentMaxTokens })},
	{"STUDIO_AGENT_MAX_TIME", "agent-max-time", "15m", "wall time an agent run may take (Go duration)",
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%q is not a duration such as 15m", v)
			}
			c.AgentMaxTime = d
			return nil
		}},
	{"STUDIO_AGENT_MAX_COST", "agent-max-cost", "2", "USD an agent run may spend, from the price table",
		func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return fmt.Errorf("%q is not an amount such as 2 or 0.5", v)
			}
			c.AgentMaxCost = f
			return nil
		}},
	{"STUDIO_AGENT_MAX_TURN_BYTES", "agent-max-turn-bytes", "1MiB", "text and tool arguments one model turn may stream before the run stops as over budget",
		sizeSetting(func(c *Config) *int64 { return &c.AgentMaxTurnBytes })},
	{"STUDIO_AGENT_MAX_RUN_BYTES", "agent-max-run-bytes", "8MiB", "text and tool arguments a whole agent run may stream",
		sizeSetting(func(c *Config) *int64 { return &c.AgentMaxRunBytes })},
	{"STUDIO_AGENT_PRICES", "agent-prices", "", "extra or changed model prices: model=input/output (USD per million tokens), comma-separated",
		str(func(c *Config) *string { return &c.AgentPrices })},
	{"STUDIO_DEFAULT_MODEL", "default-model", "", "provider/model used when a chat names none (default: the first provider the user configured)",
		str(func(c *Config) *string { return &c.DefaultModel })},
	{"STUDIO_OPENAI_API_KEY", "openai-api-key", "", "OpenAI key for users without their own",
		str(func(c *Config) *string { return &c.OpenAIKey })},
	{"STUDIO_ANTHROPIC_API_KEY", "anthropic-api-key", "", "Anthropic key for users without their own",
		str(func(c *Config) *string { return &c.AnthropicKey })},
	{"STUDIO_GEMINI_API_KEY", "gemini-api-key", "", "Google Gemini key for users without their own",
		str(func(c *Config) *string { return &c.GeminiKey })},
	{"STUDIO_OLLAMA_URL", "ollama-url", "", "Ollama server for users without their own (e.g. http://127.0.0.1:11434/v1)",
		str(func(c *Config) *string { return &c.OllamaURL })},
	{"STUDIO_OPENAI_COMPATIBLE_URL", "openai-compatible-url", "", "OpenAI-compatible gateway (LiteLLM, OpenRouter, vLLM …) for users without their own",
		str(func(c *Config) *string { return &c.CompatibleURL })},
	{"STUDIO_OPENAI_COMPATIBLE_API_KEY", "openai-compatible-api-key", "", "key for STUDIO_OPENAI_COMPATIBLE_URL",
		str(func(c *Config) *string { return &c.CompatibleKey })},
	{"STUDIO_OPENAI_BASE_URL", "openai-base-url", "", "endpoint for every OpenAI call instead of the official one (e.g. a company gateway); empty = https://api.openai.com/v1",
		str(func(c *Config) *string { return &c.OpenAIBaseURL })},
	{"STUDIO_ANTHROPIC_BASE_URL", "anthropic-base-url", "", "endpoint for every Anthropic call instead of the official one; empty = https://api.anthropic.com",
		str(func(c *Config) *string { return &c.AnthropicBaseURL })},
	{"STUDIO_GEMINI_BASE_URL", "gemini-base-url", "", "endpoint for every Gemini call instead of the official one; empty = https://generativelanguage.googleapis.com",
		str(func(c *Config) *string { return &c.GeminiBaseURL })},
	{"STUDIO_PROVIDER_ALLOW", "provider-allow", netguard.DefaultAllow, "internal addresses provider calls may reach, comma-separated hosts, host:port pairs or CIDRs (none = only public addresses)",
		func(c *Config, v string) error {
			if strings.TrimSpace(v) == "none" {
				v = ""
			}
			c.ProviderAllow = v
			return nil
		}},
	{"STUDIO_GITHUB", "github", "on", "on | off: off turns GitHub away (no connecting, listing or importing with a connection; the other STUDIO_GITHUB_* settings are then not read)",
		func(c *Config, v string) error {
			switch strings.TrimSpace(v) {
			case "on":
				c.GitHub = true
			case "off":
				c.GitHub = false
			default:
				return fmt.Errorf("must be on or off")
			}
			return nil
		}},
	{"STUDIO_GITHUB_URL", "github-url", "https://github.com", "GitHub's address: https://github.com or a GitHub Enterprise server (its API is then {url}/api/v3); reached through the same guard as provider calls (STUDIO_PROVIDER_ALLOW)",
		str(func(c *Config) *string { return &c.GitHubURL })},
	{"STUDIO_GITHUB_CLIENT_ID", "github-client-id", "", "client id of the GitHub OAuth App people connect through (with STUDIO_GITHUB_CLIENT_SECRET; empty = people paste a personal access token instead)",
		str(func(c *Config) *string { return &c.GitHubClientID })},
	{"STUDIO_GITHUB_CLIENT_SECRET", "github-client-secret", "", "client secret of that OAuth App",
		str(func(c *Config) *string { return &c.GitHubClientSecret })},
	{"STUDIO_LOG_LEVEL", "log-level", "info", "debug | info | warn | error",
		str(func(c *Config) *string { return &c.LogLevel })},
	{"STUDIO_LOG_FORMAT", "log-format", "text", "text | json",
		str(func(c *Config) *string { return &c.LogFormat })},
}

// Load reads the environment (through getenv) and then args, so a flag wins
// over its variable, and validates the result.
func Load(name string, args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: studio %s [flags]\n\nFlags (each also read from its STUDIO_* variable):\n", name)
		fs.PrintDefaults()
	}
	build := Register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return build()
}

// Register adds a flag for every setting to fs, defaulting to the
// variable's value. The returned function, called after fs.Parse, builds
// and validates the Config.
func Register(fs *flag.FlagSet, getenv func(string) string) func() (*Config, error) {
	values := make(map[string]*string, len(settings))
	for _, s := range settings {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		values[s.env] = fs.String(s.flag, v, s.help+" ["+s.env+"]")
	}
	return func() (*Config, error) {
		c := &Config{}
		var errs []error
		for _, s := range settings {
			if err := s.set(c, *values[s.env]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		if c.PreviewDomain == "" {
			c.PreviewDomain = c.Domain
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		return c, nil
	}
}

// Validate checks every field and says, per variable, what is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(env, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{env}, a...)...))
	}
	if host, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("STUDIO_ADDR", "%s", strings.TrimPrefix(err.Error(), "address "+c.Addr+": "))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("STUDIO_ADDR", "port %q is not a number from 0 to 65535", port)
	} else if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		bad("STUDIO_ADDR", "host %q must be an IP address or localhost", host)
	}
	if strings.TrimSpace(c.Data) == "" {
		bad("STUDIO_DATA", "must name a folder")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("STUDIO_DATABASE_URL", "must start with postgres:// or postgresql://")
	}
	if !validDomain(c.Domain) {
		bad("STUDIO_DOMAIN", "%q is not a host name such as studio.localhost", c.Domain)
	}
	if !validDomain(c.PreviewDomain) {
		bad("STUDIO_PREVIEW_DOMAIN", "%q is not a host name such as studio-preview.localhost", c.PreviewDomain)
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		bad("STUDIO_BASE_URL", "must start with http:// or https://")
	}
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		bad("STUDIO_SECRET_KEY", "must be at least 32 characters (it is %d)", len(c.SecretKey))
	}
	oneOf := func(env, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(env, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	oneOf("STUDIO_RUNTIME", c.Runtime, "docker", "kubernetes")
	oneOf("STUDIO_ROUTER", c.Router, "builtin", "traefik")
	if c.Router == "traefik" {
		c.checkTraefik(bad)
	}
	for env, v := range map[string]string{"STUDIO_KUBE_NAMESPACE": c.KubeNamespace, "STUDIO_KUBE_PROJECTS_CLAIM": c.KubeProjectsClaim} {
		if v != "" && !kubeName(v) {
			bad(env, "%q is not a Kubernetes name (lower-case letters, digits and hyphens, at most 63)", v)
		}
	}
	oneOf("STUDIO_SIGNUP", c.Signup, "open", "invite", "closed")
	oneOf("STUDIO_MARKETPLACE", c.Marketplace, "off", "private", "instance")
	if _, err := c.MarketplaceURLList(); err != nil {
		bad("STUDIO_MARKETPLACE_URLS", "%s", err)
	}
	oneOf("STUDIO_LOG_LEVEL", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("STUDIO_LOG_FORMAT", c.LogFormat, "text", "json")
	if c.IdleTimeout < 0 {
		bad("STUDIO_IDLE_TIMEOUT", "must not be negative")
	}
	if _, err := c.PoolSizes(); err != nil {
		bad("STUDIO_POOL_SIZE", "%s", err)
	}
	if _, err := c.PauseDelay(); err != nil {
		bad("STUDIO_PAUSE_AFTER", "%s", err)
	}
	if c.MaxBody < 1024 {
		bad("STUDIO_MAX_BODY", "must be at least 1KiB")
	}
	if c.MaxFileSize < 1024 {
		bad("STUDIO_MAX_FILE_SIZE", "must be at least 1KiB")
	}
	if c.TemplateMaxSize < 1024 {
		bad("STUDIO_TEMPLATE_MAX_SIZE", "must be at least 1KiB")
	}
	if c.ImportMaxSize < 1024 {
		bad("STUDIO_IMPORT_MAX_SIZE", "must be at least 1KiB")
	}
	if c.AgentMaxTurnBytes < 1024 {
		bad("STUDIO_AGENT_MAX_TURN_BYTES", "must be at least 1KiB")
	}
	if c.AgentMaxRunBytes < c.AgentMaxTurnBytes {
		bad("STUDIO_AGENT_MAX_RUN_BYTES", "must be at least STUDIO_AGENT_MAX_TURN_BYTES (%d bytes)", c.AgentMaxTurnBytes)
	}
	if c.Memory < 64<<20 {
		bad("STUDIO_CONTAINER_MEMORY", "must be at least 64MiB")
	}
	if _, err := c.ProviderAllowList(); err != nil {
		bad("STUDIO_PROVIDER_ALLOW", "%s", err)
	}
	for _, s := range []struct{ env, v string }{{"STUDIO_OPENAI_BASE_URL", c.OpenAIBaseURL}, {"STUDIO_ANTHROPIC_BASE_URL", c.AnthropicBaseURL}, {"STUDIO_GEMINI_BASE_URL", c.GeminiBaseURL}} {
		if u, err := url.Parse(s.v); s.v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			bad(s.env, "must be an http:// or https:// address")
		}
	}
	c.checkGitHub(bad)
	return errors.Join(errs...)
}

// checkGitHub validates the GitHub settings, when GitHub is on.
func (c *Config) checkGitHub(bad func(env, format string, args ...any)) {
	if !c.GitHub {
		return
	}
	u, err := url.Parse(c.GitHubURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		bad("STUDIO_GITHUB_URL", "must be GitHub's address, such as https://github.com or https://github.example.com")
	} else if u.Scheme == "http" && !loopback(u.Hostname()) {
		// Tokens travel to this address: in clear text only on this machine.
		bad("STUDIO_GITHUB_URL", "must be an https:// address (http:// is accepted only for a loopback host, as in tests)")
	}
	if (c.GitHubClientID == "") != (c.GitHubClientSecret == "") {
		bad("STUDIO_GITHUB_CLIENT_ID", "set both STUDIO_GITHUB_CLIENT_ID and STUDIO_GITHUB_CLIENT_SECRET (an OAuth App's), or neither")
	}
}

// loopback reports whether host is this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// GitHubWebURL is STUDIO_GITHUB_URL without a trailing slash.
func (c *Config) GitHubWebURL() string { return strings.TrimRight(c.GitHubURL, "/") }

// GitHubAPIURL is GitHub's REST API: api.github.com for github.com, the
// server's /api/v3 for GitHub Enterprise.
func (c *Config) GitHubAPIURL() string {
	if u, err := url.Parse(c.GitHubWebURL()); err == nil && strings.EqualFold(u.Host, "github.com") {
		return "https://api.github.com"
	}
	return c.GitHubWebURL() + "/api/v3"
}

// GitHubOAuth reports whether the OAuth web flow is configured.
func (c *Config) GitHubOAuth() bool { return c.GitHubClientID != "" && c.GitHubClientSecret != "" }

// checkTraefik validates the settings of STUDIO_ROUTER=traefik.
func (c *Config) checkTraefik(bad func(env, format string, args ...any)) {
	if c.Runtime == "kubernetes" {
		bad("STUDIO_ROUTER", "traefik routes previews in docker mode; in kubernetes mode Traefik routes the UI and preview hosts to studio's Service and studio routes previews itself, so leave STUDIO_ROUTER at builtin (see deploy/kubernetes/examples/traefik)")
	}
	if u, err := url.Parse(c.TraefikAuthURL); c.TraefikAuthURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != ForwardAuthPath || u.User != nil {
		bad("STUDIO_TRAEFIK_AUTH_URL", "must be the http:// address at which Traefik reaches studio's %s, e.g. http://studio:8080%s", ForwardAuthPath, ForwardAuthPath)
	}
	if c.TraefikContainer != "" && len(c.TrustedProxies) == 0 {
		bad("STUDIO_TRUSTED_PROXIES", "name the Traefik container's address: studio answers ForwardAuth only to trusted proxies, and a Traefik in a container is not on loopback")
	}
	if len(c.TraefikEntryPointList()) == 0 {
		bad("STUDIO_TRAEFIK_ENTRYPOINTS", "name at least one Traefik entry point, such as web or websecure")
	}
	for _, ep := range c.TraefikEntryPointList() {
		if !traefikName(ep, false) {
			bad("STUDIO_TRAEFIK_ENTRYPOINTS", "%q is not a Traefik entry point name (letters, digits, - and _)", ep)
		}
	}
	if !traefikName(c.TraefikService, true) {
		bad("STUDIO_TRAEFIK_SERVICE", "%q is not a Traefik service name such as studio@docker", c.TraefikService)
	}
	if c.TraefikContainer != "" && !containerName(c.TraefikContainer) {
		bad("STUDIO_TRAEFIK_CONTAINER", "%q is not a container name", c.TraefikContainer)
	}
}

// MaxPoolSlots bounds the warm pool of the whole installation: its
// containers run for nobody yet, so they count against no user's limit.
const MaxPoolSlots = 32

// PoolSizes is STUDIO_POOL_SIZE: the warm pool's size per template, empty
// when there is none. Left empty, it is one React slot where the pool
// works (docker mode, built-in router: a Traefik route names the project's
// host, which a slot does not know yet; a Kubernetes namespace is made per
// project).
func (c *Config) PoolSizes() (map[string]int, error) {
	v := strings.TrimSpace(c.PoolSize)
	supported := c.Runtime == "docker" && c.Router == "builtin"
	switch {
	case v == "0":
		return nil, nil
	case v == "" && supported:
		return map[string]int{"react-vite": 1}, nil
	case v == "":
		return nil, nil
	case !supported:
		return nil, errors.New("the warm pool works in docker mode with the built-in router only; set it to 0")
	}
	sizes := map[string]int{}
	total := 0
	for _, part := range strings.Split(v, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(strings.TrimSpace(count))
		name = strings.TrimSpace(name)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not template=count, such as react-vite=2", part)
		}
		if _, known := image.Lookup(name); !known {
			return nil, fmt.Errorf("%q is not a template (%s)", name, strings.Join(templateIDs(), ", "))
		}
		if _, twice := sizes[name]; twice {
			return nil, fmt.Errorf("%s is named twice", name)
		}
		sizes[name] = n
		total += n
	}
	if total > MaxPoolSlots {
		return nil, fmt.Errorf("%d slots in all is more than the %d an installation may keep", total, MaxPoolSlots)
	}
	return sizes, nil
}

func templateIDs() []string {
	var ids []string
	for _, t := range image.Templates() {
		ids = append(ids, t.ID)
	}
	return ids
}

// DefaultPauseAfter is how long a project is idle before it is paused,
// when STUDIO_PAUSE_AFTER is not set and pausing works.
const DefaultPauseAfter = 5 * time.Minute

// MinPauseAfter is the shortest STUDIO_PAUSE_AFTER: a project paused
// sooner would be thawed by every pause in someone's typing.
const MinPauseAfter = 30 * time.Second

// PauseDelay is STUDIO_PAUSE_AFTER: how long a project is idle before its
// container is paused, 0 for never. Pausing needs Docker's freezer and
// studio's own proxy (Traefik would send requests to a frozen dev server
// without asking studio first), and is left off by default when the idle
// timeout leaves no room before hibernation; a studio that never
// hibernates pauses after DefaultPauseAfter.
func (c *Config) PauseDelay() (time.Duration, error) {
	v := strings.TrimSpace(c.PauseAfter)
	supported := c.Runtime == "docker" && c.Router == "builtin"
	if v == "" {
		if !supported || (c.IdleTimeout > 0 && c.IdleTimeout <= DefaultPauseAfter) {
			return 0, nil
		}
		return DefaultPauseAfter, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration such as 5m or 90s", v)
	case d == 0:
		return 0, nil
	case !supported:
		return 0, errors.New("pausing works in docker mode with the built-in router only (Kubernetes has no freezer; Traefik would reach a paused dev server without studio); set it to 0")
	case d < MinPauseAfter:
		return 0, fmt.Errorf("must be 0 (never) or at least %s", MinPauseAfter)
	case c.IdleTimeout > 0 && d >= c.IdleTimeout:
		return 0, fmt.Errorf("must be less than STUDIO_IDLE_TIMEOUT (%s), which hibernates the project", c.IdleTimeout)
	}
	return d, nil
}

// ForwardAuthPath is where studio answers Traefik's ForwardAuth requests.
const ForwardAuthPath = "/__studio/forward-auth"

// TraefikEntryPointList is STUDIO_TRAEFIK_ENTRYPOINTS as a list.
func (c *Config) TraefikEntryPointList() []string {
	var out []string
	for _, ep := range strings.Split(c.TraefikEntryPoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			out = append(out, ep)
		}
	}
	return out
}

// traefikName: letters, digits, - and _ (and one @provider when qualified).
func traefikName(s string, qualified bool) bool {
	name, provider, hasProvider := strings.Cut(s, "@")
	if hasProvider && (!qualified || !traefikName(provider, false)) {
		return false
	}
	if name == "" || len(name) > 128 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// containerName: what Docker accepts as a container name.
func containerName(s string) bool {
	if s == "" || len(s) > 128 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// EmbeddedDatabase reports whether studio runs its own PostgreSQL.
func (c *Config) EmbeddedDatabase() bool { return c.DatabaseURL == "" }

// DataDir returns the absolute data folder.
func (c *Config) DataDir() string {
	abs, err := filepath.Abs(c.Data)
	if err != nil {
		return c.Data
	}
	return abs
}

// PublicURL is the address people use to reach the UI.
func (c *Config) PublicURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	_, port, _ := net.SplitHostPort(c.Addr)
	if port == "80" {
		return "http://" + c.Domain
	}
	return "http://" + c.Domain + ":" + port
}

// UIHost is the host[:port] of PublicURL, lower-case: the Host header a
// browser sends for the UI. A default port (80, 443) is left out, as
// browsers leave it out.
func (c *Config) UIHost() string {
	u, err := url.Parse(c.PublicURL())
	if err != nil {
		return ""
	}
	return canonicalHost(u)
}

// Origin is an address's scheme://host[:port] as browsers send it in an
// Origin header: host in lower case, no default port. A value that is not
// an absolute address comes back as it is.
func Origin(address string) string {
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return address
	}
	return u.Scheme + "://" + canonicalHost(u)
}

// canonicalHost is u's host[:port]: lower case, IPv6 in brackets, no
// default port.
func canonicalHost(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && port != defaultPort(u.Scheme) {
		return host + ":" + port
	}
	return host
}

// PreviewURL is the one place a project's preview address is made:
// {scheme}://{slug}.{PreviewDomain}[:port]/, with the UI's scheme and port
// (one listener, or one reverse proxy, serves both).
func (c *Config) PreviewURL(slug string) string {
	u, err := url.Parse(c.PublicURL())
	if err != nil {
		return ""
	}
	host := slug + "." + c.PreviewDomain
	if port := u.Port(); port != "" && port != defaultPort(u.Scheme) {
		host += ":" + port
	}
	return u.Scheme + "://" + host + "/"
}

// PreviewsShareSiteWithUI reports whether previews and the UI are on one
// registrable domain (one "site"): then a preview can set cookies the UI
// receives and counts as same-site for it, so production should give
// previews a domain of their own.
func (c *Config) PreviewsShareSiteWithUI() bool {
	u, err := url.Parse(c.PublicURL())
	if err != nil {
		return true
	}
	return registrable(strings.ToLower(u.Hostname())) == registrable(c.PreviewDomain)
}

// registrable is a host's registrable domain (example.co.uk for
// a.b.example.co.uk), or the host itself when it has none.
func registrable(host string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// Help writes every variable with its default and meaning.
func Help(w io.Writer) {
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %-22s %s (default %s)\n", s.env, s.help, def)
	}
}

// Env is the process environment, for Load.
func Env(key string) string { return os.Getenv(key) }

func validDomain(d string) bool {
	if d == "" || len(d) > 200 || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// parseRanges reads comma-separated CIDRs; a bare address is a range of one.
func parseRanges(v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if ip := net.ParseIP(item); ip != nil {
			bits := 128
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a range such as 10.0.0.0/8", item)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseSize(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 {
				break
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("%q is not a size such as 8MiB", v)
}

// MarketplaceURLList is STUDIO_MARKETPLACE_URLS, parsed: absolute http or
// https addresses without a user name or password (an index is public;
// a secret in it would be sent to every redirect and shown in the page).
func (c *Config) MarketplaceURLList() ([]*url.URL, error) {
	var out []*url.URL
	seen := map[string]bool{}
	for _, entry := range strings.Split(c.MarketplaceURLs, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		u, err := url.Parse(entry)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "":
			return nil, fmt.Errorf("%q is not an http:// or https:// address such as https://studio.example.com/marketplace/catalogue.json", entry)
		case u.User != nil:
			return nil, fmt.Errorf("%q has a user name or password; a catalogue must be readable without one", entry)
		case u.Fragment != "":
			return nil, fmt.Errorf("%q has a #fragment, which is never sent to the server", entry)
		case seen[u.String()]:
			return nil, fmt.Errorf("%q is listed twice", entry)
		}
		seen[u.String()] = true
		out = append(out, u)
	}
	return out, nil
}

// ProviderAllowList is STUDIO_PROVIDER_ALLOW, parsed.
func (c *Config) ProviderAllowList() (*netguard.AllowList, error) {
	return netguard.ParseAllowList(c.ProviderAllow)
}

// ProviderBaseURLs are the administrator's endpoints for first-party
// providers, by provider name; a provider using its official endpoint is
// absent.
func (c *Config) ProviderBaseURLs() map[string]string {
	out := map[string]string{}
	for name, u := range map[string]string{"openai": c.OpenAIBaseURL, "anthropic": c.AnthropicBaseURL, "gemini": c.GeminiBaseURL} {
		if u != "" {
			out[name] = strings.TrimRight(u, "/")
		}
	}
	return out
}

// ProviderDefault is an instance-wide provider setting.
type ProviderDefault struct{ APIKey, BaseURL string }

// ProviderDefaults are the providers configured for the whole instance,
// by provider name; a provider without a key or URL is absent.
func (c *Config) ProviderDefaults() map[string]ProviderDefault {
	out := map[string]ProviderDefault{}
	add := func(name string, d ProviderDefault) {
		if d.APIKey != "" || d.BaseURL != "" {
			out[name] = d
		}
	}
	add("openai", ProviderDefault{APIKey: c.OpenAIKey})
	add("anthropic", ProviderDefault{APIKey: c.AnthropicKey})
	add("gemini", ProviderDefault{APIKey: c.GeminiKey})
	add("ollama", ProviderDefault{BaseURL: c.OllamaURL})
	add("openai_compatible", ProviderDefault{APIKey: c.CompatibleKey, BaseURL: c.CompatibleURL})
	return out
}

// kubeName tells whether s is a DNS label, the form of a namespace's or a
// claim's name.
func kubeName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
