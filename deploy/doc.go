// Package deploy holds the files that run studio elsewhere: kubernetes/ is a
// kustomize base (with overlays in kubernetes/examples/). Its tests render
// every kustomization and apply the result to a real API server, with the
// CustomResourceDefinitions of Traefik and cert-manager (testdata/crds) that
// the Traefik overlays use.
package deploy
