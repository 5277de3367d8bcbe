// Package ext stands in for Traefik's nested module
// github.com/traefik/traefik/dynamic/ext, which Traefik's go.mod points at
// its own tree (./pkg/config/dynamic/ext) and which its published module
// zip does not contain. Traefik embeds these two types in its dynamic
// configuration and only copies them, so empty structs are enough.
package ext

// HTTP holds extension fields of the dynamic HTTP configuration.
type HTTP struct{}

// Router holds extension fields of an HTTP router.
type Router struct{}
